import { useEffect, useState } from 'react';
import { api, ApiError, type Credential, type CredentialKind } from '../api';
import { DeleteButton } from '../components/DeleteButton';

/** A credential's form for editing: its name and fields, secrets shown masked; a masked
 *  value left as it is keeps the stored one. */
function EditCredential({ cred, kind, onDone }: { cred: Credential; kind?: CredentialKind; onDone: (notice: string) => void }) {
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [name, setName] = useState(cred.name);
  const [error, setError] = useState('');
  useEffect(() => {
    api.credential(cred.id).then((c) => setValues(c.plainDataObj ?? {}), (e: ApiError) => setError(e.message));
  }, [cred.id]);
  if (!values) return error ? <p className="problem error">{error}</p> : null;
  const fields = kind?.inputs ?? Object.keys(values).map((n) => ({ name: n, label: n, type: 'string' }));
  return (
    <form
      className="edit-credential"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await api.updateCredential(cred.id, name, values);
          onDone('Credential saved.');
        } catch (err) {
          setError(err instanceof ApiError ? err.message : String(err));
        }
      }}
    >
      <label>
        Name <input value={name} onChange={(e) => setName(e.target.value)} required aria-label="Credential name" />
      </label>
      {fields.map((f) => (
        <label key={f.name}>
          {f.label}
          <input
            name={f.name}
            type={f.type === 'password' ? 'password' : 'text'}
            autoComplete="off"
            value={String(values[f.name] ?? '')}
            onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
          />
        </label>
      ))}
      <p className="hint">A secret left as ******** keeps its stored value.</p>
      {error && <p className="problem error" role="alert">{error}</p>}
      <div className="edit-actions">
        <button type="submit">Save changes</button>
        <button type="button" className="ghost" onClick={() => onDone('')}>Cancel</button>
      </div>
    </form>
  );
}

// Credentials: Flowise's kinds and fields; secrets are sent once and never shown again.
export function Credentials() {
  const [list, setList] = useState<Credential[]>([]);
  const [kinds, setKinds] = useState<CredentialKind[]>([]);
  const [kind, setKind] = useState('openAIApi');
  const [notice, setNotice] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
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
              <button type="button" className="ghost" onClick={() => setEditing(editing === c.id ? null : c.id)}>
                Edit
              </button>
              <DeleteButton name={c.name} onDelete={async () => {
                await api.deleteCredential(c.id);
                load();
              }} />
            </span>
            {editing === c.id && (
              <EditCredential
                cred={c}
                kind={kinds.find((k) => k.name === c.credentialName)}
                onDone={(said) => {
                  setEditing(null);
                  if (said) setNotice(said);
                  load();
                }}
              />
            )}
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
