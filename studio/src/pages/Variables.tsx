import { useEffect, useState } from 'react';
import { api, ApiError, type Variable } from '../api';
import { DeleteButton } from '../components/DeleteButton';

// Global variables: $vars.name in prompts, custom tools and agentflow nodes. A static
// one holds its value; a runtime one reads an environment variable of the server when a
// run starts (never one of the server's own secrets).
export function Variables() {
  const [rows, setRows] = useState<Variable[] | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const load = () => api.variables().then(setRows, (e: ApiError) => setNotice(e.message));
  useEffect(() => {
    load();
  }, []);
  const save = async (form: HTMLFormElement, id?: string) => {
    const data = new FormData(form);
    const body = {
      name: String(data.get('name') ?? '').trim(),
      value: String(data.get('value') ?? ''),
      type: (String(data.get('type') ?? 'static') as 'static' | 'runtime'),
    };
    try {
      if (id) await api.updateVariable(id, body);
      else await api.createVariable(body);
      setNotice(`Saved ${body.name}.`);
      setEditing(null);
      if (!id) form.reset();
      load();
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  const fields = (v?: Variable) => (
    <>
      <input name="name" aria-label="Variable name" placeholder="name" defaultValue={v?.name} required pattern="[A-Za-z_][A-Za-z0-9_]*" />
      <select name="type" aria-label="Variable type" defaultValue={v?.type ?? 'static'}>
        <option value="static">Static</option>
        <option value="runtime">Runtime (from the environment)</option>
      </select>
      <input name="value" aria-label="Variable value" placeholder="value, or the environment variable's name" defaultValue={v?.value} />
    </>
  );
  return (
    <main className="list-page variables-page">
      <h2>Variables</h2>
      <p className="hint">
        Read as <code>{'{{ $vars.name }}'}</code> in prompts and agentflow fields, and as <code>$vars.name</code> in custom
        tools and functions. A request's <code>overrideConfig.vars</code> goes over them. Keep keys in credentials, not here.
      </p>
      {rows && rows.length === 0 && <p className="empty">No variables yet: add the first below.</p>}
      {rows && rows.length > 0 && (
        <table className="library-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Value</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((v) =>
              editing === v.id ? (
                <tr key={v.id}>
                  <td colSpan={5}>
                    <form className="inline-form" onSubmit={(e) => { e.preventDefault(); save(e.currentTarget, v.id); }}>
                      {fields(v)}
                      <button type="submit">Save</button>
                      <button type="button" className="ghost" onClick={() => setEditing(null)}>Cancel</button>
                    </form>
                  </td>
                </tr>
              ) : (
                <tr key={v.id} data-variable={v.name}>
                  <td><code>$vars.{v.name}</code></td>
                  <td>{v.type === 'runtime' ? 'Runtime' : 'Static'}</td>
                  <td className="value">{v.type === 'runtime' ? `from ${v.value || v.name}` : v.value}</td>
                  <td>{new Date(v.updatedDate).toLocaleString()}</td>
                  <td className="actions">
                    <button type="button" className="ghost small" onClick={() => setEditing(v.id)}>Edit</button>
                    <DeleteButton name={v.name} onDelete={async () => { await api.deleteVariable(v.id); load(); }} />
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      )}
      <form className="card inline-form new-variable" onSubmit={(e) => { e.preventDefault(); save(e.currentTarget); }}>
        <h3>New variable</h3>
        {fields()}
        <button type="submit">Add</button>
      </form>
      {notice && <p className="notice" role="status">{notice}</p>}
    </main>
  );
}
