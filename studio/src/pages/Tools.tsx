import { useEffect, useState } from 'react';
import { api, ApiError, type LibraryTool, type ToolRunResult } from '../api';
import { DeleteButton } from '../components/DeleteButton';
import { CodeField } from '../components/NodeForm';

const EXAMPLE_SCHEMA = JSON.stringify([{ property: 'city', type: 'string', description: 'The city', required: true }], null, 2);
const EXAMPLE_FUNC = `// the arguments are $city (one $name per property), $vars the global variables;
// fetch reaches the hosts the server allows (CANVASFLOW_OUTBOUND_HOSTS)
return \`It is sunny in \${$city}.\`;`;

interface Draft {
  id?: string;
  name: string;
  description: string;
  schema: string;
  func: string;
}

const blank: Draft = { name: '', description: '', schema: EXAMPLE_SCHEMA, func: EXAMPLE_FUNC };

// The tools library: custom tools written once (name, what they do, their arguments'
// schema, their JavaScript), picked by any canvas's Custom Tool node, tried here with
// arguments in the same sandbox a run uses.
export function Tools() {
  const [tools, setTools] = useState<LibraryTool[] | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [args, setArgs] = useState('{\n  "city": "Paris"\n}');
  const [result, setResult] = useState<ToolRunResult | null>(null);
  const [notice, setNotice] = useState('');
  const load = () => api.tools().then(setTools, (e: ApiError) => setNotice(e.message));
  useEffect(() => {
    load();
  }, []);
  const set = (change: Partial<Draft>) => draft && setDraft({ ...draft, ...change });
  const save = async () => {
    if (!draft) return;
    const body = { name: draft.name.trim(), description: draft.description, schema: draft.schema, func: draft.func };
    try {
      const saved = draft.id ? await api.updateTool(draft.id, body) : await api.createTool(body);
      setDraft({ ...draft, id: saved.id });
      setNotice(`Saved ${saved.name}.`);
      load();
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  const run = async () => {
    if (!draft) return;
    setResult(null);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(args || '{}');
    } catch (err) {
      setResult({ output: null, error: `the arguments are not JSON: ${err}`, ms: 0 });
      return;
    }
    try {
      setResult(await api.runTool({ func: draft.func, schema: draft.schema, name: draft.name || 'tool', arguments: parsed }));
    } catch (err) {
      setResult({ output: null, error: err instanceof ApiError ? err.message : String(err), ms: 0 });
    }
  };
  return (
    <main className="list-page tools-page">
      <h2>Tools</h2>
      <p className="hint">Custom tools kept once: a canvas's Custom Tool node picks one by name, and a change here reaches every canvas that uses it.</p>
      {tools && tools.length === 0 && !draft && <p className="empty">No tools yet.</p>}
      <ul className="canvases">
        {(tools ?? []).map((t) => (
          <li key={t.id} className="card" data-tool={t.name}>
            <strong>{t.name}</strong> <span className="hint">{t.description}</span>
            <span className="actions">
              <button
                type="button"
                className="ghost small"
                onClick={() => {
                  setDraft({ id: t.id, name: t.name, description: t.description, schema: t.schema ?? '', func: t.func ?? '' });
                  setResult(null);
                }}
              >
                Edit
              </button>
              <DeleteButton name={t.name} onDelete={async () => { await api.deleteTool(t.id); if (draft?.id === t.id) setDraft(null); load(); }} />
            </span>
          </li>
        ))}
      </ul>
      {!draft && (
        <button type="button" onClick={() => { setDraft({ ...blank }); setResult(null); }}>
          New tool
        </button>
      )}
      {draft && (
        <section className="card tool-editor" aria-label="Tool">
          <h3>{draft.id ? `Edit ${draft.name}` : 'New tool'}</h3>
          <label>
            Name (what the model calls it)
            <input aria-label="Tool name" value={draft.name} onChange={(e) => set({ name: e.target.value })} placeholder="get_weather" />
          </label>
          <label>
            What it does (the model reads this to decide when to call it)
            <textarea aria-label="Tool description" rows={2} value={draft.description} onChange={(e) => set({ description: e.target.value })} />
          </label>
          <label>
            Arguments (a JSON schema, or Flowise's list of properties)
            <textarea aria-label="Tool schema" className="mono" rows={6} value={draft.schema} onChange={(e) => set({ schema: e.target.value })} />
          </label>
          <div className="field">
            <span className="label">Code (JavaScript, run in the sandbox)</span>
            <div className="tool-code">
              <CodeField value={draft.func} onChange={(func) => set({ func })} language="javascript" />
            </div>
          </div>
          <div className="tool-run">
            <label>
              Run with these arguments
              <textarea aria-label="Tool arguments" className="mono" rows={4} value={args} onChange={(e) => setArgs(e.target.value)} />
            </label>
            <button type="button" className="ghost" onClick={run}>
              Run
            </button>
            {result && (
              <pre className={`tool-result${result.error ? ' error' : ''}`} aria-label="Tool result">
                {result.error ? `Failed: ${result.error}` : result.output}
                {`\n(${result.ms} ms)`}
              </pre>
            )}
          </div>
          <div className="dialog-buttons">
            <button type="button" onClick={save}>Save</button>
            <button type="button" className="ghost" onClick={() => setDraft(null)}>Close</button>
          </div>
        </section>
      )}
      {notice && <p className="notice" role="status">{notice}</p>}
    </main>
  );
}
