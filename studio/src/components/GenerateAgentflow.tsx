import { useContext, useEffect, useState } from 'react';
import { api, ApiError, type ModelChoice } from '../api';
import { choiceInputs } from '../models';
import type { FlowData, Problem } from '../types';
import { CatalogueContext } from './CanvasNode';
import { CredentialSelect } from './CredentialSelect';

// Flowise's "Generate Agentflow": say what the flow should do, pick the chat model that
// drafts it (its model nodes then use the same); the draft goes on the canvas, checked,
// unsaved and not run.
export function GenerateAgentflow({
  replacing,
  onDraft,
  onClose,
}: {
  replacing: boolean;
  onDraft: (flow: FlowData, problems: Problem[]) => void;
  onClose: () => void;
}) {
  const catalogue = useContext(CatalogueContext);
  const models = [...catalogue.values()].filter((d) => d.category === 'Chat Models' && !d.agentflow && !d.needs?.length);
  const [description, setDescription] = useState('');
  const [choice, setChoice] = useState<ModelChoice>({ node: 'chatLocal', modelName: '', credential: null, baseUrl: null });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    api.modelDefaults().then((d) => d.chat && setChoice(d.chat), () => undefined);
  }, []);
  const desc = catalogue.get(choice.node);
  const generate = async () => {
    setBusy(true);
    setError('');
    try {
      const draft = await api.generateAgentflow(description, { name: choice.node, inputs: choiceInputs(choice, desc) });
      onDraft({ nodes: draft.nodes, edges: draft.edges } as unknown as FlowData, draft.problems ?? []);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="dialog-backdrop" role="presentation">
      <form
        className="dialog generate-dialog"
        role="dialog"
        aria-label="Generate an agentflow"
        onSubmit={(e) => {
          e.preventDefault();
          if (description.trim() && !busy) generate();
        }}
      >
        <h2>Generate an agentflow</h2>
        <label>
          What should it do?
          <textarea
            autoFocus
            rows={4}
            aria-label="What the agentflow should do"
            placeholder="Answer questions about our shop; hand complaints to a person"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
          />
        </label>
        <label>
          The chat model that drafts it (its steps use it too)
          <select
            aria-label="Drafting model"
            value={choice.node}
            onChange={(e) => setChoice({ node: e.target.value, modelName: '', credential: null, baseUrl: null })}
          >
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.label}
              </option>
            ))}
          </select>
        </label>
        {choice.node !== 'chatLocal' && (
          <label>
            Model name
            <input aria-label="Drafting model name" value={choice.modelName ?? ''} onChange={(e) => setChoice({ ...choice, modelName: e.target.value })} />
          </label>
        )}
        {desc?.credential && (
          <CredentialSelect
            label="Drafting credential"
            kinds={desc.credential.credentialNames}
            value={choice.credential ?? ''}
            onChange={(id) => setChoice({ ...choice, credential: id || null })}
          />
        )}
        <p className="hint">
          The draft is checked, not saved and not run{replacing ? '; it replaces what is on the canvas (Undo brings it back)' : ''}.
          A small model drafts small flows: the embedded one gives a starting point at best.
        </p>
        {error && <p className="error" role="alert">{error}</p>}
        <div className="dialog-buttons">
          <button type="submit" disabled={busy || !description.trim()}>
            {busy ? 'Drafting…' : 'Generate'}
          </button>
          <button type="button" className="ghost" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
