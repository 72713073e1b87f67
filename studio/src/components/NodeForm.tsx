import { useEffect, useState } from 'react';
import Editor from 'react-simple-code-editor';
import Prism from 'prismjs';
import 'prismjs/components/prism-json';
import 'prismjs/components/prism-python';
import { api, type Credential, type CredentialKind } from '../api';
import { paramsOf, type StudioNode } from '../graph';
import type { InputDesc, NodeDesc, Problem } from '../types';

type Change = (name: string, value: unknown) => void;

function readFile(file: File): Promise<string> {
  // Flowise's upload format: a data URL with the file name appended
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(`${reader.result},filename:${file.name}`);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function CodeField({ value, onChange, language }: { value: string; onChange: (v: string) => void; language: string }) {
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

function CredentialField({
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

function Field({ input, value, onChange, problems, codeLanguage }: {
  input: InputDesc;
  value: unknown;
  onChange: Change;
  problems: Problem[];
  codeLanguage: string;
}) {
  const id = `field-${input.name}`;
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const set = (v: unknown) => onChange(input.name, v);
  let control;
  switch (input.type) {
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
        <textarea id={id} rows={4} className="mono" value={text} placeholder={input.placeholder} onChange={(e) => set(e.target.value)} />
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
      if (input.rows || input.name === 'customToolFunc') {
        control =
          input.name === 'customToolFunc' ? (
            <CodeField value={text} onChange={set} language={codeLanguage} />
          ) : (
            <textarea id={id} rows={input.rows ?? 4} value={text} placeholder={input.placeholder} onChange={(e) => set(e.target.value)} />
          );
      } else {
        control = (
          <input
            id={id}
            type="text"
            inputMode={input.type === 'number' ? 'decimal' : undefined}
            value={text}
            placeholder={input.placeholder ?? (input.default !== undefined ? String(input.default) : '')}
            onChange={(e) => set(e.target.value)}
          />
        );
      }
  }
  return (
    <div className={`field${problems.some((p) => p.level === 'error') ? ' invalid' : ''}`} data-input={input.name}>
      <label htmlFor={id}>
        {input.label}
        {!input.optional && <span className="required">*</span>}
      </label>
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
}: {
  node: StudioNode;
  desc: NodeDesc;
  problems: Problem[];
  onChange: Change;
  onLabel: (label: string) => void;
}) {
  const params = paramsOf(desc);
  const main = params.filter((i) => !i.additionalParams);
  const more = params.filter((i) => i.additionalParams);
  const language = String(node.data.inputs.language ?? 'javascript') === 'python' ? 'python' : 'javascript';
  const field = (input: InputDesc) => (
    <Field
      key={input.name}
      input={input}
      value={node.data.inputs[input.name]}
      onChange={onChange}
      problems={problems.filter((p) => p.input === input.name)}
      codeLanguage={input.type === 'json' ? 'json' : language}
    />
  );
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
      {more.length > 0 && (
        <details className="additional">
          <summary>Additional parameters ({more.length})</summary>
          {more.map(field)}
        </details>
      )}
    </div>
  );
}
