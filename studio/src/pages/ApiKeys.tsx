import { useEffect, useState } from 'react';
import { api, ApiError, type ApiKey } from '../api';
import { DeleteButton } from '../components/DeleteButton';

export function ApiKeys() {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [fresh, setFresh] = useState('');
  const [notice, setNotice] = useState('');
  const load = () => api.keys().then(setKeys, (e: ApiError) => setNotice(e.message));
  useEffect(() => {
    load();
  }, []);
  return (
    <main className="list-page">
      <h2>API keys</h2>
      <p className="hint">Keys are stored as hashes: a new key is shown once. An admin key manages everything; a canvas key opens its canvases.</p>
      <ul className="canvases">
        {keys.map((k) => (
          <li key={k.id} className="card">
            <strong>{k.name}</strong> <code>cf_{k.prefix}_…</code> <span className="badge">{k.admin ? 'admin' : `${k.canvases.length} canvases`}</span>
            <span className="actions">
              <DeleteButton name={k.name} onDelete={async () => {
                await api.deleteKey(k.id);
                load();
              }} />
            </span>
          </li>
        ))}
      </ul>
      <form
        className="card new-key"
        onSubmit={async (e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          try {
            const made = await api.createKey(String(form.get('name')), form.get('admin') === 'on', []);
            setFresh(made.key ?? '');
            load();
          } catch (err) {
            setNotice(err instanceof ApiError ? err.message : String(err));
          }
        }}
      >
        <h3>New key</h3>
        <label>
          Name <input name="name" required />
        </label>
        <label className="check">
          <input type="checkbox" name="admin" /> Admin
        </label>
        <button type="submit">Create</button>
      </form>
      {fresh && (
        <p className="fresh-key">
          Copy it now, it is shown once: <code>{fresh}</code>
        </p>
      )}
      {notice && <p className="notice">{notice}</p>}
    </main>
  );
}
