import { useEffect, useState } from 'react';
import { api, ApiError, type ApiDialogData, type ApiKey } from '../api';
import type { CanvasRow } from '../types';

// A canvas's API dialog, as Flowise's "API endpoint": the prediction URL, the key the
// code reads (CANVASFLOW_KEY: keys are kept as hashes, so a new one is shown once), code
// for each client, runnable as shown, and the inputs a request's overrideConfig may
// change (the canvas's allow-list, edited here).
export function ApiDialog({ canvas, onClose, onSaved }: { canvas: CanvasRow; onClose: () => void; onSaved: (c: CanvasRow) => void }) {
  const [data, setData] = useState<ApiDialogData | null>(null);
  const [withOverride, setWithOverride] = useState(false);
  const [tab, setTab] = useState('curl');
  const [copied, setCopied] = useState('');
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [fresh, setFresh] = useState('');
  const [allowed, setAllowed] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState('');
  const load = () =>
    api.apiDialog(canvas.id, withOverride).then(
      (d) => {
        setData(d);
        setAllowed(new Set(d.allowedOverrides));
      },
      (e: ApiError) => setNotice(e.message),
    );
  useEffect(() => {
    load();
  }, [canvas.id, withOverride, fresh]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    api.keys().then((all) => setKeys(all.filter((k) => k.canvases.includes(canvas.id))), () => setKeys([]));
  }, [canvas.id, fresh]);
  const copy = (text: string, what: string) =>
    navigator.clipboard?.writeText(text).then(() => setCopied(what), () => setCopied(''));
  const shown = data?.snippets.find((s) => s.key === tab) ?? data?.snippets[0];
  const byNode = new Map<string, NonNullable<typeof data>['inputs']>();
  for (const i of data?.inputs ?? []) byNode.set(i.nodeId, [...(byNode.get(i.nodeId) ?? []), i]);
  const saveAllowed = async () => {
    try {
      const settings = { ...(canvas.settings as Record<string, unknown>), allowedOverrides: [...allowed].sort() };
      onSaved(await api.updateCanvas(canvas.id, { settings }));
      setNotice('The allow-list is saved.');
      load();
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <div className="dialog-backdrop" role="presentation" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <section className="dialog api-dialog" role="dialog" aria-label="Use this canvas from your code">
        <header className="api-dialog-head">
          <h2>Use {canvas.name} from your code</h2>
          <button type="button" className="ghost small" onClick={onClose} aria-label="Close">
            Close
          </button>
        </header>
        {data && (
          <>
            <div className="api-url">
              <code>POST {data.predictionUrl}</code>
              <button type="button" className="ghost small" onClick={() => copy(data.predictionUrl, 'url')}>
                {copied === 'url' ? 'Copied' : 'Copy'}
              </button>
            </div>
            {data.locked ? (
              <p className="hint key-hint">
                This canvas needs one of its keys ({keys.map((k) => `${k.name} cf_${k.prefix}_…`).join(', ') || 'an admin key'}): the
                code reads it from <code>CANVASFLOW_KEY</code>.{' '}
                <button
                  type="button"
                  className="ghost small"
                  onClick={async () => setFresh((await api.createKey(`${canvas.name} code key`, false, [canvas.id])).key ?? '')}
                >
                  Create a key for it
                </button>
              </p>
            ) : (
              <p className="hint key-hint">
                Open to anyone: no key. Give it a key (below, or in its Settings) and only holders may call it.{' '}
                <button
                  type="button"
                  className="ghost small"
                  onClick={async () => setFresh((await api.createKey(`${canvas.name} code key`, false, [canvas.id])).key ?? '')}
                >
                  Lock it with a key
                </button>
              </p>
            )}
            {fresh && (
              <p className="fresh-key">
                Shown once: <code>export CANVASFLOW_KEY={fresh}</code>
              </p>
            )}
            <div className="embed-tabs" role="tablist" aria-label="Clients">
              {data.snippets.map((s) => (
                <button
                  key={s.key}
                  type="button"
                  role="tab"
                  aria-selected={shown?.key === s.key}
                  data-snippet={s.key}
                  className={shown?.key === s.key ? 'small' : 'ghost small'}
                  onClick={() => setTab(s.key)}
                >
                  {s.label}
                </button>
              ))}
            </div>
            {shown && (
              <div className="snippet">
                <pre className="api-snippet" data-language={shown.language} aria-label={`${shown.label} code`}>
                  {shown.code}
                </pre>
                <button type="button" className="ghost small" onClick={() => copy(shown.code, shown.key)}>
                  {copied === shown.key ? 'Copied' : 'Copy the code'}
                </button>
                <label className="check">
                  <input type="checkbox" checked={withOverride} onChange={(e) => setWithOverride(e.target.checked)} /> Show an
                  overrideConfig in the code
                </label>
              </div>
            )}
            <details className="override-list">
              <summary>What a request may change (overrideConfig)</summary>
              <p className="hint">
                Ticked inputs may be set by a request's <code>overrideConfig</code> (for one node:{' '}
                <code>{'{"temperature": {"chatOpenAI_0": 0.2}}'}</code>); the rest are the canvas's own.
              </p>
              {[...byNode.entries()].map(([nodeId, inputs]) => (
                <fieldset key={nodeId}>
                  <legend>
                    {inputs[0].nodeLabel} <small>({nodeId})</small>
                  </legend>
                  {inputs.map((i) => (
                    <label key={i.input} className="check" data-override={i.input}>
                      <input
                        type="checkbox"
                        checked={allowed.has(i.input)}
                        onChange={(e) => {
                          const next = new Set(allowed);
                          if (e.target.checked) next.add(i.input);
                          else next.delete(i.input);
                          setAllowed(next);
                        }}
                      />{' '}
                      {i.label} <code>{i.input}</code>
                    </label>
                  ))}
                </fieldset>
              ))}
              <button type="button" onClick={saveAllowed}>
                Save the allow-list
              </button>
            </details>
          </>
        )}
        {notice && <p className="notice" role="status">{notice}</p>}
      </section>
    </div>
  );
}
