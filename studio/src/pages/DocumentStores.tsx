import { useEffect, useState } from 'react';
import { ApiError } from '../api';
import { docstores, type DocStore } from '../docstores';
import { href } from '../router';

// Document stores: knowledge kept outside canvases (Flowise's), each with its loaders,
// chunks and the canvases that read it.
export function DocumentStores({ open }: { open: (id: string) => void }) {
  const [rows, setRows] = useState<DocStore[] | null>(null);
  const [notice, setNotice] = useState('');
  const load = () => docstores.list().then(setRows, (e: ApiError) => setNotice(e.message));
  useEffect(() => {
    load();
  }, []);
  const create = async (form: HTMLFormElement) => {
    const data = new FormData(form);
    try {
      const made = await docstores.create(String(data.get('name') ?? '').trim(), String(data.get('description') ?? ''));
      open(made.id);
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <main className="list-page docstores-page">
      <h2>Document stores</h2>
      <p className="hint">
        Knowledge kept outside canvases: files and pages split into chunks and embedded once; processing again embeds only
        what changed. A canvas reads a store with the <em>Document Store (Vector)</em> node.
      </p>
      {rows && rows.length === 0 && <p className="empty">No document stores yet: make the first below.</p>}
      {rows && rows.length > 0 && (
        <table className="library-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Loaders</th>
              <th>Files</th>
              <th>Chunks</th>
              <th>Used by</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id} data-store={s.name}>
                <td>
                  <a
                    href={href({ page: 'docstore', id: s.id })}
                    onClick={(e) => {
                      e.preventDefault();
                      open(s.id);
                    }}
                  >
                    {s.name}
                  </a>
                  {s.description && <div className="hint">{s.description}</div>}
                </td>
                <td>
                  <span className={`status status-${s.status.toLowerCase()}`}>{s.status}</span>
                </td>
                <td>{s.loaders.length}</td>
                <td>{s.loaders.reduce((n, l) => n + (l.files?.length ?? 0), 0)}</td>
                <td>{s.totalChunks}</td>
                <td>{s.whereUsed.map((w) => w.name).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="card inline-form new-store"
        onSubmit={(e) => {
          e.preventDefault();
          create(e.currentTarget);
        }}
      >
        <h3>New document store</h3>
        <input name="name" aria-label="Store name" placeholder="name" required maxLength={100} />
        <input name="description" aria-label="Store description" placeholder="what it holds" />
        <button type="submit">Create</button>
      </form>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
    </main>
  );
}
