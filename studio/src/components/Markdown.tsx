import DOMPurify from 'dompurify';
import { marked } from 'marked';
import Prism from 'prismjs';
import { useMemo } from 'react';

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// raw HTML in model output is shown as text, never as markup (DOMPurify is the second belt)
marked.use({ gfm: true, breaks: false, renderer: { html: ({ text }) => escape(text) } });

// Model output as Markdown: rendered by marked, sanitised by DOMPurify (no script, no
// handler, no foreign markup can come through), code highlighted by Prism.
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false }) as string;
  const clean = DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
  const box = document.createElement('div');
  box.innerHTML = clean;
  box.querySelectorAll('pre code').forEach((el) => {
    const lang = [...el.classList].find((c) => c.startsWith('language-'))?.slice(9) ?? 'javascript';
    const grammar = Prism.languages[lang];
    if (grammar) el.innerHTML = Prism.highlight(el.textContent ?? '', grammar, lang);
  });
  return box.innerHTML;
}

export function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
