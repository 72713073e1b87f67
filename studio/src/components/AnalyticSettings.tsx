import { ANALYTIC_PROVIDERS, type AnalyticForm } from '../analytic';
import { CredentialSelect } from './CredentialSelect';

// Where this canvas's traces go besides the server's own exporter: Flowise's analytic
// providers, each with a stored credential (its key and endpoint) and a project.
export function AnalyticSettings({ value, onChange }: { value: AnalyticForm; onChange: (v: AnalyticForm) => void }) {
  return (
    <fieldset className="analytic">
      <legend>Traces (analytic providers)</legend>
      <p className="hint">
        Each run's trace (prompts, model calls, tokens, documents, tool calls) is sent to the providers turned on here,
        over OpenTelemetry, with the key and address of the credential chosen.
      </p>
      {ANALYTIC_PROVIDERS.map((p) => {
        const entry = value[p.key] ?? { on: false, credentialId: '', project: '' };
        const set = (change: Partial<typeof entry>) => onChange({ ...value, [p.key]: { ...entry, ...change } });
        return (
          <div key={p.key} className="analytic-provider">
            <label className="check">
              <input type="checkbox" aria-label={`Send traces to ${p.label}`} checked={entry.on} onChange={(e) => set({ on: e.target.checked })} />{' '}
              {p.label}
            </label>
            {entry.on && (
              <>
                <CredentialSelect
                  label={`${p.label} credential`}
                  kinds={[p.credential]}
                  value={entry.credentialId}
                  onChange={(credentialId) => set({ credentialId })}
                  none="(choose one)"
                />
                {p.project && (
                  <label>
                    Project
                    <input aria-label={`${p.label} project`} placeholder="default" value={entry.project} onChange={(e) => set({ project: e.target.value })} />
                  </label>
                )}
              </>
            )}
          </div>
        );
      })}
    </fieldset>
  );
}
