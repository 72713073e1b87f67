// Models: the chat model and the embeddings new canvases and templates use, set once
// (a provider's node, its credential, its model, its address), checked when saved; and
// whether Ollama runs on this machine, with the models it has.
import { useEffect, useState } from 'react';
import { api, ApiError, type ModelChoice, type ModelDefaults, type OllamaStatus } from '../api';
import { CredentialField } from '../components/NodeForm';
import { choiceInputs, URL_INPUTS } from '../models';
import type { NodeDesc } from '../types';

function Choice({
  kind,
  title,
  nodes,
  value,
  onChange,
}: {
  kind: 'chat' | 'embeddings';
  title: string;
  nodes: NodeDesc[];
  value: ModelChoice | null;
  onChange: (v: ModelChoice | null) => void;
}) {
  const desc = nodes.find((n) => n.name === value?.node);
  const [names, setNames] = useState<string[] | null>(null);
  const [asked, setAsked] = useState('');
  const takesUrl = desc?.inputs.some((i) => URL_INPUTS.includes(i.name));
  const set = (patch: Partial<ModelChoice>) => value && onChange({ ...value, ...patch });
  return (
    <fieldset className="card model-choice" data-kind={kind}>
      <legend>{title}</legend>
      <label>
        Provider
        <select
          aria-label={`${title}: provider`}
          value={value?.node ?? ''}
          onChange={(e) => {
            setNames(null);
            onChange(e.target.value ? { node: e.target.value, modelName: '', credential: null, baseUrl: null } : null);
          }}
        >
          <option value="">The embedded one (no key, no network)</option>
          {nodes.map((n) => (
            <option key={n.name} value={n.name} disabled={Boolean(n.needs?.length)}>
              {n.label}
              {n.needs?.length ? ` (needs ${n.needs.join(', ')})` : ''}
            </option>
          ))}
        </select>
      </label>
      {value && desc?.credential && (
        <div className="field">
          <label>Credential (none: the server's own key, from its environment)</label>
          <CredentialField slot={desc.credential} value={value.credential ?? ''} onChange={(v) => set({ credential: v || null })} />
        </div>
      )}
      {value && takesUrl && (
        <label>
          Server address (empty: the provider's own, or the server's setting)
          <input
            aria-label={`${title}: address`}
            value={value.baseUrl ?? ''}
            placeholder="https://…/v1"
            onChange={(e) => set({ baseUrl: e.target.value || null })}
          />
        </label>
      )}
      {value && (
        <label>
          Model
          <input aria-label={`${title}: model`} value={value.modelName ?? ''} onChange={(e) => set({ modelName: e.target.value })} />
        </label>
      )}
      {value && (
        <div className="model-names">
          <button
            type="button"
            className="ghost small"
            onClick={async () => {
              setAsked('');
              try {
                const found = await api.nodeLoadMethod(value.node, 'listModels', choiceInputs(value, desc));
                setNames(found.map((o) => o.name));
              } catch (e) {
                setNames(null);
                setAsked((e as Error).message);
              }
            }}
          >
            List the provider's models
          </button>
          {asked && <p className="problem error" role="alert">{asked}</p>}
          {names && (
            <div className="model-list" role="list">
              {names.map((n) => (
                <button key={n} type="button" role="listitem" className="ghost chip" onClick={() => set({ modelName: n })}>
                  {n}
                </button>
              ))}
            </div>
          )}
        </div>
      )}
    </fieldset>
  );
}

export function Models({ catalogue }: { catalogue: NodeDesc[] }) {
  const [defaults, setDefaults] = useState<ModelDefaults | null>(null);
  const [ollama, setOllama] = useState<OllamaStatus | null>(null);
  const [notice, setNotice] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    api.modelDefaults().then(setDefaults, (e: ApiError) => setError(e.message));
    api.ollama().then(setOllama, () => setOllama(null));
  }, []);
  const of = (category: string) =>
    catalogue.filter((d) => d.category === category && !d.agentflow && !['chatLocal', 'miniLMEmbeddings', 'wordLlamaEmbeddings'].includes(d.name));
  if (!defaults) return <main className="list-page"><p className="loading">{error || 'Loading…'}</p></main>;
  return (
    <main className="list-page models-page">
      <h2>Models</h2>
      <p className="hint">
        The chat model and the embeddings templates start with. Each is checked when saved: its provider is asked
        for its models with the key it would use (no tokens spent).
      </p>
      {ollama && (
        <p className={`card ollama ${ollama.found ? 'found' : ''}`} role="status">
          {ollama.found
            ? `Ollama runs at ${ollama.url}, with ${ollama.models.length ? ollama.models.join(', ') : 'no models pulled yet'}.`
            : `Ollama does not answer at ${ollama.url} (start it, or set OLLAMA_BASE_URL).`}{' '}
          {ollama.found && ollama.models.length > 0 && (
            <button
              type="button"
              className="ghost small"
              onClick={() => setDefaults({ ...defaults, chat: { node: 'chatOllama', modelName: ollama.models[0], baseUrl: ollama.url, credential: null } })}
            >
              Use it for chat
            </button>
          )}
        </p>
      )}
      <Choice kind="chat" title="Chat model" nodes={of('Chat Models')} value={defaults.chat ?? null} onChange={(chat) => setDefaults({ ...defaults, chat })} />
      <Choice
        kind="embeddings"
        title="Embeddings"
        nodes={of('Embeddings')}
        value={defaults.embeddings ?? null}
        onChange={(embeddings) => setDefaults({ ...defaults, embeddings })}
      />
      <button
        type="button"
        id="save-models"
        onClick={async () => {
          setNotice('Checking…');
          setError('');
          try {
            const saved = await api.setModelDefaults(defaults);
            setDefaults(saved);
            const label = (c?: ModelChoice | null) =>
              c ? `${catalogue.find((d) => d.name === c.node)?.label ?? c.node}${c.modelName ? ` (${c.modelName})` : ''}` : 'the embedded one';
            setNotice(`Checked and saved. Templates now start with ${label(saved.chat)} and ${label(saved.embeddings)}.`);
          } catch (e) {
            setNotice('');
            setError(e instanceof ApiError ? e.message : String(e));
          }
        }}
      >
        Check and save
      </button>
      {notice && <p className="notice" role="status">{notice}</p>}
      {error && <p className="problem error" role="alert">{error}</p>}
    </main>
  );
}
