import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, type SavedTemplate } from '../api';
import { go } from '../router';
import { startFrom, TEMPLATES } from '../templates';
import type { CanvasRow, NodeDesc } from '../types';
import { DeleteButton } from '../components/DeleteButton';

function download(name: string, data: unknown) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.json`;
  a.click();
  URL.revokeObjectURL(a.href);
}

export function CanvasList({ catalogue = [] }: { catalogue?: NodeDesc[] }) {
  const byName = new Map(catalogue.map((d) => [d.name, d]));
  const [canvases, setCanvases] = useState<CanvasRow[]>([]);
  const [mine, setMine] = useState<SavedTemplate[]>([]);
  useEffect(() => {
    api.templates().then(setMine, () => setMine([]));
  }, []);
  const [search, setSearch] = useState('');
  const [message, setMessage] = useState('');
  const [renaming, setRenaming] = useState<string | null>(null);
  const [newName, setNewName] = useState('');

  const load = () => api.canvases().then(setCanvases, (e: ApiError) => setMessage(e.message));
  useEffect(() => {
    load();
  }, []);

  const shown = useMemo(
    () =>
      canvases.filter((c) => `${c.name} ${c.slug}`.toLowerCase().includes(search.trim().toLowerCase())),
    [canvases, search],
  );

  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      setMessage(done);
      await load();
    } catch (e) {
      setMessage(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <main className="list-page">
      <section className="toolbar">
        <input
          type="search"
          placeholder="Search canvases"
          aria-label="Search canvases"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            const name = newName.trim() || 'Untitled canvas';
            try {
              const made = await api.createCanvas(name, { nodes: [], edges: [] });
              go({ page: 'editor', id: made.id });
            } catch (err) {
              setMessage(err instanceof ApiError ? err.message : String(err));
            }
          }}
        >
          <input
            placeholder="New canvas name"
            aria-label="New canvas name"
            value={newName}
            onChange={(e) => setNewName(e.target.value)}
          />
          <button type="submit" id="new-canvas">New canvas</button>
          <button
            type="button"
            id="new-agentflow"
            title="An Agentflow v2 (Flowise 3): nodes that run one after another, branch, loop and ask a person"
            onClick={async () => {
              try {
                const start = {
                  id: 'startAgentflow_0',
                  type: 'agentFlow',
                  position: { x: 0, y: 0 },
                  data: { id: 'startAgentflow_0', name: 'startAgentflow', label: 'Start', inputs: { startInputType: 'chatInput' } },
                };
                const made = await api.createCanvas(newName.trim() || 'Untitled agentflow', { nodes: [start], edges: [] });
                go({ page: 'editor', id: made.id });
              } catch (err) {
                setMessage(err instanceof ApiError ? err.message : String(err));
              }
            }}
          >
            New agentflow
          </button>
        </form>
        <label className="button">
          Import…
          <input
            type="file"
            accept="application/json,.json"
            aria-label="Import a canvas file"
            hidden
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              try {
                const made = await api.importCanvas(JSON.parse(await file.text()), file.name.replace(/\.json$/i, ''));
                go({ page: 'editor', id: made.id });
              } catch (err) {
                setMessage(err instanceof ApiError ? err.message : `Not a canvas file: ${err}`);
              }
            }}
          />
        </label>
      </section>
      {message && <p className="notice" role="status">{message}</p>}

      {mine.length > 0 && (
        <>
          <h2>My templates</h2>
          <section className="gallery mine">
            {mine.map((t) => (
              <article key={t.id} className="card template" data-template={t.name}>
                <h3>{t.name}</h3>
                {t.description && <p>{t.description}</p>}
                <p className="tag">{t.type === 'AgentflowV2' ? 'agentflow' : 'chatflow'} · saved {new Date(t.createdDate).toLocaleDateString()}</p>
                <button
                  type="button"
                  onClick={async () => {
                    const made = await api.createCanvas(t.name, JSON.parse(t.flowData));
                    go({ page: 'editor', id: made.id });
                  }}
                >
                  Use this template
                </button>{' '}
                <DeleteButton name={t.name} onDelete={async () => {
                  await api.deleteTemplate(t.id);
                  setMine(mine.filter((m) => m.id !== t.id));
                }} />
              </article>
            ))}
          </section>
        </>
      )}
      <h2>
        Start from a template{' '}
        <a
          className="more-templates"
          href="/studio/templates"
          onClick={(e) => {
            e.preventDefault();
            go({ page: 'templates' });
          }}
        >
          Flowise's marketplace: 37 more
        </a>
      </h2>
      <section className="gallery">
        {TEMPLATES.map((t) => (
          <article key={t.key} className="card template">
            <h3>{t.name}</h3>
            <p>{t.description}</p>
            <p className="tag">{t.offline ? 'runs offline' : 'needs a key'}</p>
            {t.needs && <p className="needs">Needs {t.needs}.</p>}
            <button
              type="button"
              onClick={async () => {
                // the server's default models (the Models page) in place of the embedded
                // ones; what it needs is asked for again where it is given: in the editor
                go({ page: 'editor', id: await startFrom(t, byName) });
              }}
            >
              Use this template
            </button>
          </article>
        ))}
      </section>

      <h2>Canvases</h2>
      <ul className="canvases">
        {shown.map((c) => (
          <li key={c.id} className="card" data-canvas={c.slug}>
            {renaming === c.id ? (
              <form
                className="inline"
                onSubmit={(e) => {
                  e.preventDefault();
                  const input = (e.currentTarget.elements.namedItem('name') as HTMLInputElement).value;
                  setRenaming(null);
                  act(() => api.updateCanvas(c.id, { name: input }), 'Renamed.');
                }}
              >
                <input name="name" defaultValue={c.name} aria-label="Canvas name" autoFocus />
                <button type="submit">Save</button>
              </form>
            ) : (
              <a
                href={`/studio/canvas/${c.id}`}
                className="canvas-name"
                onClick={(e) => {
                  e.preventDefault();
                  go({ page: 'editor', id: c.id });
                }}
              >
                {c.name}
              </a>
            )}
            <span className="slug">{c.slug}</span>
            <span className={(c.problems ?? []).some((p) => p.level === 'error') ? 'badge bad' : 'badge ok'}>
              {(c.problems ?? []).some((p) => p.level === 'error') ? 'draft' : 'ready'}
            </span>
            <span className="actions">
              <button type="button" className="ghost" onClick={() => setRenaming(c.id)}>Rename</button>
              <button
                type="button"
                className="ghost"
                onClick={() =>
                  act(
                    () => api.createCanvas(`${c.name} (copy)`, JSON.parse(c.flowData), c.settings),
                    'Duplicated.',
                  )
                }
              >
                Duplicate
              </button>
              <button
                type="button"
                className="ghost"
                onClick={async () => download(c.slug, await api.exportCanvas(c.id))}
              >
                Export
              </button>
              <button type="button" className="ghost" onClick={() => go({ page: 'messages', id: c.id })}>
                Messages
              </button>
              <DeleteButton name={c.name} onDelete={() => act(() => api.deleteCanvas(c.id), 'Deleted.')} />
            </span>
          </li>
        ))}
      </ul>
    </main>
  );
}
