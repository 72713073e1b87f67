import { Markdown } from '@tiptap/markdown';
import { EditorContent, useEditor, type Editor as TipTap } from '@tiptap/react';
import StarterKit from '@tiptap/starter-kit';
import { useEffect, useImperativeHandle, useRef, type Ref } from 'react';

// The rich text editor of an agentflow's prose fields (a message, an instruction, a
// reply), as Flowise's: TipTap, kept as Markdown (what Flowise 3.1 stores for these
// fields); a value stored as HTML (older Flowise exports) opens as rich text and is kept
// as Markdown once edited. {{ }} variables are plain text in it.

export interface RichTextHandle {
  /** Put text where the cursor is (in place of a {{ typed just before it). */
  insert: (text: string) => void;
}

const isHtml = (value: string) => /^\s*<(p|div|h[1-6]|ul|ol|pre|blockquote|span)[\s>]/i.test(value);

// the Markdown serialiser escapes what could read as Markdown; a variable must stay as
// typed ({{ chat_history }}, {{ $flow.state.my_key }})
export function unescapeVariables(markdown: string): string {
  return markdown.replace(/\{\{[^{}]*\}\}/g, (v) => v.replace(/\\([_*[\]`\\#~<>!|.-])/g, '$1'));
}

export function RichText({
  id,
  label,
  value,
  rows = 4,
  placeholder,
  onChange,
  onTyped,
  handle,
}: {
  id: string;
  label: string;
  value: string;
  rows?: number;
  placeholder?: string;
  onChange: (markdown: string) => void;
  // the text just before the cursor, after each change (for the {{ menu)
  onTyped?: (before: string) => void;
  handle?: Ref<RichTextHandle>;
}) {
  // whether the author has been in the field: a pick before that goes at the end
  const touched = useRef(false);
  const editor = useEditor({
    // its stylesheet is in styles.css: the page's policy allows no inline style
    injectCSS: false,
    // made once the field is on the page, not during a render React may throw away
    immediatelyRender: false,
    extensions: [StarterKit.configure({ link: false }), Markdown],
    onFocus: () => {
      touched.current = true;
    },
    content: value,
    contentType: isHtml(value) ? 'html' : 'markdown',
    editorProps: {
      attributes: {
        id,
        'aria-label': label,
        'aria-multiline': 'true',
        role: 'textbox',
        class: `rich-text-area rows-${Math.min(Math.max(2, rows), 8)}`,
        ...(placeholder ? { 'data-placeholder': placeholder } : {}),
      },
    },
    onUpdate: ({ editor: e }) => {
      onChange(unescapeVariables(e.getMarkdown()).replace(/\s+$/, ''));
      if (onTyped) {
        const { from } = e.state.selection;
        onTyped(e.state.doc.textBetween(Math.max(0, from - 2), from, '\n', '\n'));
      }
    },
  });
  // a value changed from outside (undo, a generated draft) is shown
  useEffect(() => {
    // an editor being replaced (or gone with its form) is left alone
    if (!editor || editor.isDestroyed || editor.isFocused) return;
    if (unescapeVariables(editor.getMarkdown()).replace(/\s+$/, '') !== value) {
      editor.commands.setContent(value, { contentType: isHtml(value) ? 'html' : 'markdown', emitUpdate: false });
    }
  }, [editor, value]);
  useImperativeHandle(
    handle,
    () => ({
      insert: (text: string) => {
        if (!editor || editor.isDestroyed) return;
        if (!touched.current) editor.commands.focus('end');
        const { from } = editor.state.selection;
        // a {{ typed just before the cursor is what the pick replaces
        const replacing = editor.state.doc.textBetween(Math.max(0, from - 2), from, '\n', '\n') === '{{' ? 2 : 0;
        editor
          .chain()
          .focus()
          .insertContentAt({ from: Math.max(0, from - replacing), to: from }, text)
          .run();
      },
    }),
    [editor],
  );
  return (
    <div className="rich-text">
      {editor && !editor.isDestroyed && <Toolbar editor={editor} />}
      <EditorContent editor={editor} />
    </div>
  );
}

function Toolbar({ editor }: { editor: TipTap }) {
  const mark = (name: string, label: string, run: () => void, text: string) => (
    <button
      type="button"
      className={`ghost small${editor.isActive(name) ? ' on' : ''}`}
      aria-label={label}
      aria-pressed={editor.isActive(name)}
      title={label}
      onMouseDown={(e) => e.preventDefault()} // keep the editor's selection
      onClick={run}
    >
      {text}
    </button>
  );
  const chain = () => editor.chain().focus();
  return (
    <div className="rich-text-bar" role="toolbar" aria-label="Formatting">
      {mark('bold', 'Bold', () => chain().toggleBold().run(), 'B')}
      {mark('italic', 'Italic', () => chain().toggleItalic().run(), 'I')}
      {mark('code', 'Code', () => chain().toggleCode().run(), '</>')}
      {mark('bulletList', 'Bulleted list', () => chain().toggleBulletList().run(), '• List')}
      {mark('orderedList', 'Numbered list', () => chain().toggleOrderedList().run(), '1. List')}
      {mark('heading', 'Heading', () => chain().toggleHeading({ level: 3 }).run(), 'H')}
    </div>
  );
}
