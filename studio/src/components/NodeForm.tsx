import { FolderFiles } from './FolderFiles';
import { lazy, Suspense, useContext, useEffect, useRef, useState } from 'react';
import EditorModule from 'react-simple-code-editor';
import Prism from 'prismjs';
import 'prismjs/components/prism-json';
import 'prismjs/components/prism-python';
import { api, type Credential, type CredentialKind } from '../api';
import { paramsOf, richToPlain, type StudioNode } from '../graph';
import { CatalogueContext } from './CanvasNode';
import type { InputDesc, NodeDesc, Problem } from '../types';
import { insertVariable, type Variable } from '../variables';
import type { RichTextHandle } from './RichText';
import { VariablePicker } from './VariablePicker';

type Change = (name: string, value: unknown) => void;

// the package is CommonJS: in the built bundle its default import is the module object
// (React error #130 on any code field), in Vite's dev server the component itself
const Editor = ((EditorModule as unknown as { default?: typeof EditorModule }).default ??
  EditorModule) as typeof EditorModule;

function readFile(file: File): Promise<string> {
  // Flowise's upload format: a data URL with the file name appended
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(`${reader.result},filename:${file.name}`);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function CodeField({ value, onChange, language }: { value: string; onChange: (v: string) => void; language: string }) {
  const grammar = Prism.languages[language] ?? Prism.languages.javascript;
  return (
    <Editor
      value={value}
      onValueChange={onChange}
      highlight={(code) => Prism.highlight(code, grammar, language)}
      padding={8}
      className="code-field"
      textareaClassName="code-input"
    />
  );
}

export function CredentialField({
  slot,
  value,
  onChange,
}: {
  slot: NonNullable<NodeDesc['credential']>;
  value: string;
  onChange: (v: string) => void;
}) {
  const [list, setList] = useState<Credential[]>([]);
  const [kinds, setKinds] = useState<CredentialKind[]>([]);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    api.credentials().then(setList, () => setList([]));
  }, [creating]);
  const usable = list.filter((c) => slot.credentialNames.length === 0 || slot.credentialNames.includes(c.credentialName));
  const kind = kinds.find((k) => slot.credentialNames.includes(k.name)) ?? kinds[0];
  return (
    <div className="credential-field">
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label="Credential">
        <option value="">(none: the server's environment)</option>
        {usable.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name} ({c.credentialName})
          </option>
        ))}
        {value && !usable.some((c) => c.id === value) && <option value={value}>{value} (not stored here)</option>}
      </select>
      <button
        type="button"
        className="ghost"
        onClick={async () => {
          setKinds(await api.credentialKinds());
          setCreating(true);
        }}
      >
        Create new
      </button>
      {creating && kind && (
        <form
          className="new-credential"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = new FormData(e.currentTarget);
            const data: Record<string, string> = {};
            for (const f of kind.inputs) {
              const v = String(form.get(f.name) ?? '');
              if (v) data[f.name] = v;
            }
            try {
              const made = await api.createCredential(String(form.get('__name') || kind.label), kind.name, data);
              setCreating(false);
              onChange(made.id);
            } catch (err) {
              setError(String(err));
            }
          }}
        >
          <label>
            Name <input name="__name" defaultValue={kind.label} />
          </label>
          {kind.inputs.map((f) => (
            <label key={f.name}>
              {f.label}
              <input name={f.name} type={f.type === 'password' ? 'password' : 'text'} autoComplete="off" />
            </label>
          ))}
          <button type="submit">Save credential</button>
          <button type="button" className="ghost" onClick={() => setCreating(false)}>
            Cancel
          </button>
          {error && <p className="error">{error}</p>}
        </form>
      )}
    </div>
  );
}

// What an agentflow's "asyncOptions" inputs choose from: chat models, tools, nodes.
export interface Choices {
  nodes: { id: string; label: string }[];
  // what this node's text may name ({{ question }}...), for fields that take variables
  variables?: Variable[];
}

// the text fields of an array that takes variables (messages, conditions, state...)
const TEXTUAL = new Set(['string', 'json']);
// the rich text editor (TipTap) loads with the first agentflow prose field shown
const RichText = lazy(() => import('./RichText').then((m) => ({ default: m.RichText })));

// the prose fields Flowise edits as rich text (Markdown): messages, instructions, replies
const RICH = new Set([
  'content',
  'llmUserMessage',
  'agentUserMessage',
  'directReplyMessage',
  'humanInputDescription',
  'humanInputModelPrompt',
  'conditionAgentInstructions',
  'conditionAgentSystemPrompt',
  'fallbackMessage',
]);

function optionsFor(name: string, catalogue: Map<string, NodeDesc>, choices: Choices): { name: string; label: string }[] | null {
  const of = (category: string) =>
    [...catalogue.values()].filter((d) => d.category === category).map((d) => ({ name: d.name, label: d.label }));
  if (name === 'embeddingModel') return of('Embeddings');
  if (name === 'vectorStore') return of('Vector Stores');
  if (/Model$/.test(name)) return of('Chat Models');
  if (name === 'toolAgentflowSelectedTool' || name === 'agentSelectedTool') return [...of('Tools'), ...of('Tools (MCP)')];
  if (name === 'loopBackToNode') return choices.nodes.map((n) => ({ name: `${n.id}-${n.label}`, label: `${n.label} (${n.id})` }));
  return null;
}

/** The configuration of the model (or tool) an agentflow node names: that node's own
 *  parameters and credential, kept in `<input>Config` as Flowise keeps them. */
export function ConfigForm({ owner, chosen, config, onChange }: {
  owner: string;
  chosen: string;
  config: Record<string, unknown>;
  onChange: (next: Record<string, unknown>) => void;
}) {
  const desc = useContext(CatalogueContext).get(chosen);
  if (!desc) return null;
  const set = (key: string, value: unknown) => onChange({ ...config, [key]: value, [owner]: chosen });
  const field = (input: InputDesc) => (
    <Field
      key={input.name}
      input={input}
      value={config[input.name]}
      onChange={set}
      problems={[]}
      codeLanguage="json"
      choices={{ nodes: [] }}
      prefix={`${owner}-`}
    />
  );
  return (
    <fieldset className="config-form" data-config={owner}>
      <legend>{desc.label}</legend>
      {desc.credential && (
        <div className="field" data-input="credential">
          <label>{desc.credential.label}</label>
          <CredentialField slot={desc.credential} value={String(config.credential ?? '')} onChange={(v) => set('credential', v)} />
        </div>
      )}
      {paramsOf(desc)
        .filter((i) => !i.additionalParams)
        .map(field)}
      <details className="additional">
        <summary>More settings</summary>
        {paramsOf(desc)
          .filter((i) => i.additionalParams)
          .map(field)}
      </details>
    </fieldset>
  );
}

// a Custom Tool node's tool from the tools library (the Tools page), by id
function LibraryToolSelect({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  const [tools, setTools] = useState<{ id: string; name: string; description: string }[] | null>(null);
  useEffect(() => {
    api.tools().then(setTools, () => setTools([]));
  }, []);
  return (
    <div className="library-tool">
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">— (write the tool below)</option>
        {(tools ?? []).map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
        {value && tools && !tools.some((t) => t.id === value) && <option value={value}>{value} (not in the library)</option>}
      </select>
      <a href="/studio/tools" className="small">The tools library</a>
    </div>
  );
}

function ArrayField({ input, value, onChange, choices }: {
  input: InputDesc;
  value: unknown;
  onChange: (v: unknown) => void;
  choices: Choices;
}) {
  const list = Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  const fields = input.array ?? [];
  const blank = () => Object.fromEntries(fields.map((f) => [f.name, f.default ?? '']));
  return (
    <div className="array-field" data-array={input.name}>
      {list.map((row, i) => (
        <div className="array-row" key={i} data-row={i}>
          {fields.map((f) => (
            <Field
              key={f.name}
              input={{
                ...f,
                optional: true,
                description: f.description ?? '',
                acceptVariable: f.acceptVariable ?? (Boolean(input.acceptVariable) && TEXTUAL.has(f.type)),
              }}
              value={row[f.name]}
              onChange={(k, v) => onChange(list.map((r, j) => (j === i ? { ...r, [k]: v } : r)))}
              problems={[]}
              codeLanguage="json"
              choices={choices}
              prefix={`${input.name}-${i}-`}
            />
          ))}
          <button type="button" className="ghost remove-row" onClick={() => onChange(list.filter((_, j) => j !== i))}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" className="ghost add-row" onClick={() => onChange([...list, blank()])}>
        Add {input.label.replace(/s$/, '').toLowerCase()}
      </button>
    </div>
  );
}

function Field({ input, value, onChange, problems, codeLanguage, choices, prefix = '' }: {
  input: InputDesc;
  value: unknown;
  onChange: Change;
  problems: Problem[];
  codeLanguage: string;
  choices: Choices;
  prefix?: string;
}) {
  const catalogue = useContext(CatalogueContext);
  const id = `field-${prefix}${input.name}`;
  const text =
    value === undefined || value === null ? '' : typeof value === 'string' ? richToPlain(value) : JSON.stringify(value);
  const set = (v: unknown) => onChange(input.name, v);
  const textBox = useRef<HTMLTextAreaElement & HTMLInputElement>(null);
  const [picking, setPicking] = useState(false);
  // where the cursor was in the field (a pick goes there; at the end if it never was)
  const cursorAt = useRef<[number, number] | null>(null);
  const remember = (el: HTMLTextAreaElement | HTMLInputElement) => {
    cursorAt.current = [el.selectionStart ?? 0, el.selectionEnd ?? 0];
  };
  const variables = input.acceptVariable ? (choices.variables ?? []) : [];
  // typing {{ opens the menu; a pick replaces the {{ typed
  const typed = (next: string, el: HTMLTextAreaElement | HTMLInputElement) => {
    set(next);
    remember(el);
    const at = el.selectionStart ?? next.length;
    if (variables.length && next.slice(at - 2, at) === '{{' && next.length > text.length) setPicking(true);
  };
  const rich = useRef<RichTextHandle>(null);
  const isRich = Boolean(input.acceptVariable) && RICH.has(input.name) && (input.type === 'string' || !input.type);
  const pick = (value: string) => {
    if (isRich) {
      rich.current?.insert(`{{ ${value} }}`);
      setPicking(false);
      return;
    }
    const el = textBox.current;
    let [from, to] = cursorAt.current ?? [text.length, text.length];
    if (text.slice(from - 2, from) === '{{') from -= 2;
    const { text: next, cursor } = insertVariable(text, value, from, to);
    set(next);
    setPicking(false);
    cursorAt.current = [cursor, cursor];
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(cursor, cursor);
    });
  };
  let control;
  const picks = input.type === 'asyncOptions' ? optionsFor(input.name, catalogue, choices) : null;
  switch (input.name === 'selectedTool' ? 'library' : picks ? 'picks' : isRich ? 'rich' : input.type) {
    case 'library':
      control = <LibraryToolSelect id={id} value={text} onChange={set} />;
      break;
    case 'rich':
      control = (
        <Suspense fallback={<div className="rich-text loading">Loading the editor…</div>}>
        <RichText
          id={id}
          label={input.label}
          value={typeof value === 'string' ? value : text}
          rows={input.rows ?? 4}
          placeholder={input.placeholder ?? undefined}
          onChange={set}
          onTyped={(before) => variables.length > 0 && before === '{{' && setPicking(true)}
          handle={rich}
        />
        </Suspense>
      );
      break;
    case 'picks':
      control = (
        <select id={id} value={text} onChange={(e) => set(e.target.value)}>
          <option value="">—</option>
          {picks!.map((o) => (
            <option key={o.name} value={o.name}>
              {o.label}
            </option>
          ))}
          {text && !picks!.some((o) => o.name === text) && <option value={text}>{text} (not here)</option>}
        </select>
      );
      break;
    case 'array':
      control = <ArrayField input={input} value={value} onChange={set} choices={choices} />;
      break;
    case 'boolean':
      control = (
        <input
          id={id}
          type="checkbox"
          checked={value === true || value === 'true'}
          onChange={(e) => set(e.target.checked)}
        />
      );
      break;
    case 'options':
      control = (
        <select id={id} value={text} onChange={(e) => set(e.target.value)}>
          <option value="">—</option>
          {(input.options ?? []).map((o) => (
            <option key={o.name} value={o.name}>
              {o.label}
            </option>
          ))}
        </select>
      );
      break;
    case 'multiOptions': {
      const chosen = new Set(Array.isArray(value) ? value.map(String) : text ? text.split(',') : []);
      control = (
        <div id={id} className="multi">
          {(input.options ?? []).map((o) => (
            <label key={o.name}>
              <input
                type="checkbox"
                checked={chosen.has(o.name)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if (e.target.checked) next.add(o.name);
                  else next.delete(o.name);
                  set([...next]);
                }}
              />
              {o.label}
            </label>
          ))}
        </div>
      );
      break;
    }
    case 'password':
      control = <input id={id} type="password" autoComplete="off" value={text} onChange={(e) => set(e.target.value)} />;
      break;
    case 'json':
      control = (
        <textarea id={id} rows={4} className="mono" value={text} placeholder={input.placeholder ?? undefined} onChange={(e) => set(e.target.value)} />
      );
      break;
    case 'code':
      control = <CodeField value={text} onChange={set} language={codeLanguage} />;
      break;
    case 'file':
      control = (
        <div className="file-field">
          <input
            id={id}
            type="file"
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (file) set(await readFile(file));
            }}
          />
          {text && <span className="file-name">{text.split(',filename:')[1] ?? 'a file'}</span>}
        </div>
      );
      break;
    default:
      if (input.rows || input.name === 'customToolFunc' || /^(content|value|value1|value2|scenario)$|Message$|Instructions$|Description$|Input$/.test(input.name)) {
        control =
          input.name === 'customToolFunc' ? (
            <CodeField value={text} onChange={set} language={codeLanguage} />
          ) : (
            <textarea
              id={id}
              ref={textBox}
              rows={input.rows ?? 4}
              value={text}
              placeholder={input.placeholder ?? undefined}
              onChange={(e) => typed(e.target.value, e.target)}
              onSelect={(e) => remember(e.currentTarget)}
            />
          );
      } else {
        control = (
          <input
            id={id}
            ref={textBox}
            type="text"
            inputMode={input.type === 'number' ? 'decimal' : undefined}
            value={text}
            placeholder={input.placeholder ?? (input.default !== undefined ? String(input.default) : '')}
            onChange={(e) => typed(e.target.value, e.target)}
            onSelect={(e) => remember(e.currentTarget)}
          />
        );
      }
  }
  return (
    <div className={`field${problems.some((p) => p.level === 'error') ? ' invalid' : ''}`} data-input={input.name}>
      <div className="field-head">
        <label htmlFor={id}>
          {input.label}
          {!input.optional && <span className="required">*</span>}
        </label>
        {variables.length > 0 && <VariablePicker variables={variables} open={picking} onOpen={setPicking} onPick={pick} />}
      </div>
      {control}
      <small className="hint">{input.description}</small>
      {problems.map((p, i) => (
        <small key={i} className={`problem ${p.level}`} role="alert">
          {p.message.replace(/^node [^:]+: /, '')}
        </small>
      ))}
    </div>
  );
}

// The form of the selected node: every parameter, additional ones folded away.
export function NodeForm({
  node,
  desc,
  problems,
  onChange,
  onLabel,
  choices = { nodes: [] },
}: {
  node: StudioNode;
  desc: NodeDesc;
  problems: Problem[];
  onChange: Change;
  onLabel: (label: string) => void;
  choices?: Choices;
}) {
  // a model's or tool's configuration is edited under the input that names it
  const all = paramsOf(desc);
  const params = all.filter((i) => !/(Model|SelectedTool)Config$/.test(i.name));
  const main = params.filter((i) => !i.additionalParams);
  const more = params.filter((i) => i.additionalParams);
  const language = String(node.data.inputs.language ?? 'javascript') === 'python' ? 'python' : 'javascript';
  const field = (input: InputDesc) => {
    if (input.name === 'mcpActions')
      return (
        <McpActions
          key={input.name}
          nodeName={desc.name}
          inputs={node.data.inputs}
          value={node.data.inputs.mcpActions}
          onChange={(v) => onChange('mcpActions', v)}
        />
      );
    const configOf = input.type === 'asyncOptions' && all.some((i) => i.name === `${input.name}Config`);
    const listsModels = input.name === 'modelName' && LISTS_MODELS.has(desc.category) && !desc.agentflow;
    const chosen = String(node.data.inputs[input.name] ?? '');
    const config = node.data.inputs[`${input.name}Config`];
    return (
      <div key={input.name}>
        <Field
          input={input}
          value={node.data.inputs[input.name]}
          onChange={onChange}
          problems={problems.filter((p) => p.input === input.name)}
          codeLanguage={input.type === 'json' ? 'json' : language}
          choices={choices}
        />
        {listsModels && (
          <ModelNames nodeName={desc.name} inputs={node.data.inputs} onPick={(v) => onChange('modelName', v)} />
        )}
        {configOf && chosen && (
          <ConfigForm
            owner={input.name}
            chosen={chosen}
            config={config && typeof config === 'object' ? (config as Record<string, unknown>) : {}}
            onChange={(next) => onChange(`${input.name}Config`, next)}
          />
        )}
      </div>
    );
  };
  const loose = problems.filter((p) => !p.input || !params.some((i) => i.name === p.input));
  return (
    <div className="node-form" data-node-id={node.id}>
      <header>
        <img src={desc.icon} alt="" width={24} height={24} />
        <input aria-label="Node label" value={node.data.label} onChange={(e) => onLabel(e.target.value)} />
      </header>
      <p className="description">{desc.description}</p>
      {loose.map((p, i) => (
        <p key={i} className={`problem ${p.level}`} role="alert">
          {p.message}
        </p>
      ))}
      {desc.credential && (
        <div className="field" data-input="credential">
          <label>{desc.credential.label}</label>
          <CredentialField
            slot={desc.credential}
            value={String(node.data.inputs.credential ?? '')}
            onChange={(v) => onChange('credential', v)}
          />
        </div>
      )}
      {main.map(field)}
      {desc.name === 'folderFiles' && <FolderFiles folder={String(node.data.inputs.folderPath ?? '')} />}
      {more.length > 0 && (
        <details className="additional">
          <summary>Additional parameters ({more.length})</summary>
          {more.map(field)}
        </details>
      )}
    </div>
  );
}

const LISTS_MODELS = new Set(['Chat Models', 'Embeddings', 'LLMs']);

/** The models a chat model (or embeddings) node's provider lists, asked live with the
 *  key and address a run would use (Flowise's listModels); one click picks one. */
function ModelNames({ nodeName, inputs, onPick }: {
  nodeName: string;
  inputs: Record<string, unknown>;
  onPick: (name: string) => void;
}) {
  const [names, setNames] = useState<string[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <div className="model-names">
      <button
        type="button"
        className="ghost small"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError('');
          try {
            const found = await api.nodeLoadMethod(nodeName, 'listModels', inputs);
            setNames(found.map((o) => o.name));
          } catch (e) {
            setError((e as Error).message);
            setNames(null);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? 'Asking the provider…' : "List the provider's models"}
      </button>
      {error && <p className="problem error" role="alert">{error}</p>}
      {names && !names.length && <p className="hint">The provider lists no models.</p>}
      {names && names.length > 0 && (
        <div className="model-list" role="list">
          {names.map((n) => (
            <button key={n} type="button" role="listitem" className="ghost chip" onClick={() => onPick(n)}>
              {n}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

/** An MCP node's "Available Actions": the tools its server lists (asked of the server by
 *  the node's configuration), to check the ones the agent gets; none checked: all. Kept
 *  as Flowise keeps it, a JSON list of names. */
function McpActions({
  nodeName,
  inputs,
  value,
  onChange,
}: {
  nodeName: string;
  inputs: Record<string, unknown>;
  value: unknown;
  onChange: (v: string) => void;
}) {
  const [tools, setTools] = useState<{ name: string; description: string }[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  let chosen: string[] = [];
  try {
    chosen = Array.isArray(value) ? value.map(String) : value ? JSON.parse(String(value)) : [];
  } catch {
    chosen = [];
  }
  const picked = new Set(chosen);
  return (
    <div className="field mcp-actions" data-input="mcpActions">
      <label>Available actions (none checked: all)</label>
      <button
        type="button"
        className="ghost"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError('');
          try {
            setTools(await api.nodeLoadMethod(nodeName, 'listActions', inputs));
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? 'Asking the server…' : "List the server's tools"}
      </button>
      {error && (
        <p className="problem error" role="alert">
          {error}
        </p>
      )}
      <div className="multi">
        {(tools ?? chosen.map((name) => ({ name, description: '' }))).map((t) => (
          <label key={t.name} title={t.description}>
            <input
              type="checkbox"
              checked={picked.has(t.name)}
              onChange={(e) => {
                const next = new Set(picked);
                if (e.target.checked) next.add(t.name);
                else next.delete(t.name);
                onChange(JSON.stringify([...next]));
              }}
            />
            {t.name}
          </label>
        ))}
      </div>
    </div>
  );
}
