import { useEffect, useState } from 'react';
import { api, ApiError, type Credential, type CredentialKind } from '../api';
import { DeleteButton } from '../components/DeleteButton';

// Credentials: Flowise's kinds and fields; secrets are sent once and never shown again.
export function Credentials() {
  const [list, setList] = useState<Credential[]>([]);
  const [kinds, setKinds] = useState<CredentialKind[]>([]);
  const [kind, setKind] = useState('openAIApi');
  const [notice, setNotice] = useState('');
  const load = () => api.credentials().then(setList, (e: ApiError) => setNotice(e.message));
  useEffect(() => {
    load();
    api.credentialKinds().then(setKinds, () => setKinds([]));
  }, []);
  const chosen = kinds.find((k) => k.name === kind);
  return (
    <main className="list-page">
      <h2>Credentials</h2>
      <p className="hint">Secret fields are encrypted at rest and never sent back; nodes pick a credential by its id.</p>
      <ul className="canvases">
        {list.map((c) => (
          <li key={c.id} className="card" data-credential={c.name}>
            <strong>{c.name}</strong> <span className="slug">{c.credentialName}</span> <code>{c.id}</code>
            <span className="actions">
              <DeleteButton name={c.name} onDelete={async () => {
                await api.deleteCredential(c.id);
                load();
              }} />
            </span>
          </li>
        ))}
      </ul>
      <form
        className="card new-credential"
        onSubmit={async (e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          const data: Record<string, string> = {};
          for (const f of chosen?.inputs ?? []) {
            const v = String(form.get(f.name) ?? '');
            if (v) data[f.name] = v;
          }
          try {
            await api.createCredential(String(form.get('__name')), kind, data);
            (e.target as HTMLFormElement).reset();
            setNotice('Credential saved.');
            load();
          } catch (err) {
            setNotice(err instanceof ApiError ? err.message : String(err));
          }
        }}
      >
        <h3>New credential</h3>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value)} aria-label="Credential kind">
            {kinds.map((k) => (
              <option key={k.name} value={k.name}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Name <input name="__name" required />
        </label>
        {chosen?.inputs.map((f) => (
          <label key={f.name}>
            {f.label}
            <input name={f.name} type={f.type === 'password' ? 'password' : 'text'} autoComplete="off" />
          </label>
        ))}
        <button type="submit">Save credential</button>
      </form>
      {notice && <p className="notice">{notice}</p>}
    </main>
  );
}
