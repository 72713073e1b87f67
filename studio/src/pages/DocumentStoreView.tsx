import { useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../api';
import { CatalogueContext } from '../components/CanvasNode';
import { DeleteButton } from '../components/DeleteButton';
import { ConfigForm } from '../components/NodeForm';
import {
  docstores,
  doneLine,
  SEARCHED,
  share,
  splitterValues,
  upload,
  upsertedLine,
  without,
  type Chunk,
  type ChunkPage,
  type DocStore,
  type Found,
  type Job,
  type Loader,
  type Preview,
} from '../docstores';
import type { NodeDesc } from '../types';

const message = (err: unknown) => (err instanceof ApiError ? err.message : String(err));

// One document store: its loaders with their files, chunks and status (and a job's
// progress as it streams), files dropped in, a loader added with its chunks previewed
// as you type, the chunk browser, the vector store's set-up and a query box.
export function DocumentStoreView({ id, catalogue, back }: { id: string; catalogue: NodeDesc[]; back: () => void }) {
  const byName = useMemo(() => new Map(catalogue.map((n) => [n.name, n])), [catalogue]);
  const [store, setStore] = useState<DocStore | null>(null);
  const [notice, setNotice] = useState('');
  const [jobs, setJobs] = useState<Record<string, Job>>({});
  const [browsing, setBrowsing] = useState<string | null>(null);
  const streams = useRef<Record<string, EventSource>>({});
  const load = () => docstores.get(id).then(setStore, (e) => setNotice(message(e)));
  useEffect(() => {
    load();
    return () => Object.values(streams.current).forEach((s) => s.close());
  }, [id]);

  // a loader's job, streamed until it ends
  const follow = (loaderId: string) => {
    streams.current[loaderId]?.close();
    const source = docstores.jobEvents(id, loaderId);
    streams.current[loaderId] = source;
    source.onmessage = (e) => {
      const job = JSON.parse(e.data) as Job | null;
      if (job) setJobs((all) => ({ ...all, [loaderId]: job }));
      if (job && job.state !== 'running') {
        source.close();
        load();
      }
    };
    source.onerror = () => {
      source.close();
      load();
    };
  };
  const process = async (loader: Loader) => {
    try {
      await docstores.process(id, loader.id);
      follow(loader.id);
      load();
    } catch (err) {
      setNotice(message(err));
    }
  };

  if (!store) return <main className="list-page docstore-page">{notice ? <p className="notice">{notice}</p> : <p className="loading">Loading…</p>}</main>;
  return (
    <CatalogueContext.Provider value={byName}>
      <main className="list-page docstore-page" data-store={store.name}>
        <p>
          <a href="/studio/document-stores" onClick={(e) => { e.preventDefault(); back(); }}>← Document stores</a>
        </p>
        <h2>
          {store.name} <span className={`status status-${store.status.toLowerCase()}`}>{store.status}</span>
        </h2>
        {store.description && <p>{store.description}</p>}
        <p className="hint totals">
          {store.totalChunks} chunks, {store.totalChars} characters
          {store.whereUsed.length > 0 && <> · read by {store.whereUsed.map((w) => w.name).join(', ')}</>}
        </p>
        <section className="card loaders">
          <h3>Loaders</h3>
          {store.loaders.length === 0 && <p className="empty">No loaders yet: drop files below, or add a loader.</p>}
          {store.loaders.length > 0 && (
            <table className="library-table">
              <thead>
                <tr>
                  <th>Loader</th>
                  <th>Source</th>
                  <th>Files</th>
                  <th>Chunks</th>
                  <th>Characters</th>
                  <th>Status</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {store.loaders.map((l) => {
                  const job = jobs[l.id] ?? l.job;
                  return (
                    <tr key={l.id} data-loader={l.id}>
                      <td>{l.loaderName}</td>
                      <td className="value">{l.source}</td>
                      <td>{l.files?.length ?? 0}</td>
                      <td>{l.totalChunks}</td>
                      <td>{l.totalChars}</td>
                      <td>
                        <span className={`status status-${l.status.toLowerCase()}`}>{job?.state === 'running' ? 'SYNCING' : l.status}</span>
                        {job && (
                          <div className="job" data-state={job.state}>
                            {job.state === 'running' && <progress max={1} value={share(job)} aria-label="Processing" />}
                            <span className="hint">{doneLine(job)}</span>
                            {job.failed.map((f) => (
                              <div key={f.source} className="failed">{f.source}: {f.error}</div>
                            ))}
                          </div>
                        )}
                      </td>
                      <td className="actions">
                        <button type="button" className="small" onClick={() => process(l)}>Process</button>
                        <button type="button" className="ghost small" onClick={() => setBrowsing(l.id)}>Chunks</button>
                        <DeleteButton name={l.loaderName} onDelete={async () => { await docstores.removeLoader(id, l.id); load(); }} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </section>
        <DropZone storeId={id} onDone={load} />
        <AddLoader storeId={id} catalogue={catalogue} onSaved={(l) => { load(); process(l); }} />
        {browsing && <Chunks key={browsing} storeId={id} loaderId={browsing} onChange={load} />}
        <VectorStore store={store} onSaved={setStore} />
        <Query storeId={id} />
        {notice && <p className="notice" role="status">{notice}</p>}
      </main>
    </CatalogueContext.Provider>
  );
}

function DropZone({ storeId, onDone }: { storeId: string; onDone: () => void }) {
  const [over, setOver] = useState(false);
  const [sent, setSent] = useState<number | null>(null);
  const [said, setSaid] = useState('');
  const [failed, setFailed] = useState<Record<string, string>[]>([]);
  const send = async (files: File[]) => {
    if (!files.length) return;
    setSaid(`Uploading ${files.length} file${files.length === 1 ? '' : 's'}…`);
    setFailed([]);
    setSent(0);
    try {
      const done = await upload(storeId, files, (s) => {
        setSent(s);
        if (s >= 1) setSaid('Processing…');
      });
      setSaid(upsertedLine(done));
      setFailed(done.failed ?? []);
    } catch (err) {
      setSaid(message(err));
    } finally {
      setSent(null);
      onDone();
    }
  };
  return (
    <section
      className={`card drop-zone${over ? ' over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        send(Array.from(e.dataTransfer.files));
      }}
    >
      <h3>Add files</h3>
      <p className="hint">
        Drop files here, or <label className="file-pick">choose them<input type="file" multiple aria-label="Files to add" onChange={(e) => send(Array.from(e.target.files ?? []))} /></label>
        : PDF, text, Markdown, CSV, JSON… They are split, embedded and kept in a new File Loader.
      </p>
      {sent !== null && <progress max={1} value={sent} aria-label="Upload" />}
      {said && <p className="upload-result" role="status">{said}</p>}
      {failed.map((f) => (
        <div key={f.source} className="failed">{f.source}: {f.error}</div>
      ))}
    </section>
  );
}

function AddLoader({ storeId, catalogue, onSaved }: { storeId: string; catalogue: NodeDesc[]; onSaved: (l: Loader) => void }) {
  const loaders = catalogue.filter((n) => n.category === 'Document Loaders' && n.name !== 'documentStore');
  const splitters = catalogue.filter((n) => n.category === 'Text Splitters');
  const [loaderId, setLoaderId] = useState('plainText');
  const [loaderConfig, setLoaderConfig] = useState<Record<string, unknown>>({});
  const [splitterId, setSplitterId] = useState('recursiveCharacterTextSplitter');
  const [splitterConfig, setSplitterConfig] = useState<Record<string, unknown>>({ chunkSize: 1000, chunkOverlap: 200 });
  const [preview, setPreview] = useState<Preview | null>(null);
  const [problem, setProblem] = useState('');
  const form = () => ({
    loaderId,
    loaderConfig: Object.fromEntries(Object.entries(loaderConfig).filter(([k]) => k !== 'loader')),
    splitterId: splitterId || null,
    splitterConfig: splitterValues(Object.fromEntries(Object.entries(splitterConfig).filter(([k]) => k !== 'splitter'))),
  });
  // the chunks as the form stands, a moment after each change
  useEffect(() => {
    const timer = setTimeout(() => {
      docstores.preview(form()).then(
        (p) => {
          setPreview(p);
          setProblem('');
        },
        (e) => {
          setPreview(null);
          setProblem(message(e));
        },
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [loaderId, loaderConfig, splitterId, splitterConfig]);
  const save = async () => {
    try {
      onSaved(await docstores.saveLoader(storeId, form()));
      setLoaderConfig({});
    } catch (err) {
      setProblem(message(err));
    }
  };
  return (
    <section className="card add-loader">
      <h3>Add a loader</h3>
      <div className="loader-columns">
        <form className="loader-form" onSubmit={(e) => { e.preventDefault(); save(); }}>
          <label>
            Loader{' '}
            <select aria-label="Loader" value={loaderId} onChange={(e) => { setLoaderId(e.target.value); setLoaderConfig({}); }}>
              {loaders.map((n) => (
                <option key={n.name} value={n.name}>{n.label}</option>
              ))}
            </select>
          </label>
          <ConfigForm owner="loader" chosen={loaderId} config={loaderConfig} onChange={setLoaderConfig} />
          <label>
            Text splitter{' '}
            <select aria-label="Text splitter" value={splitterId} onChange={(e) => setSplitterId(e.target.value)}>
              <option value="">none</option>
              {splitters.map((n) => (
                <option key={n.name} value={n.name}>{n.label}</option>
              ))}
            </select>
          </label>
          {splitterId && <ConfigForm owner="splitter" chosen={splitterId} config={splitterConfig} onChange={setSplitterConfig} />}
          <button type="submit">Save and process</button>
        </form>
        <aside className="preview" aria-label="Chunk preview">
          <h4>{preview ? `${preview.totalChunks} chunk${preview.totalChunks === 1 ? '' : 's'}` : 'Preview'}</h4>
          {problem && <p className="hint problem">{problem}</p>}
          {preview?.chunks.map((c, i) => (
            <pre key={i} className="chunk">{c.pageContent}</pre>
          ))}
        </aside>
      </div>
    </section>
  );
}

function Chunks({ storeId, loaderId, onChange }: { storeId: string; loaderId: string; onChange: () => void }) {
  const [page, setPage] = useState(1);
  const [data, setData] = useState<ChunkPage | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [said, setSaid] = useState('');
  const load = () => docstores.chunks(storeId, loaderId, page).then(setData, (e) => setSaid(message(e)));
  useEffect(() => {
    load();
  }, [page]);
  const save = async (chunk: Chunk, text: string) => {
    try {
      await docstores.editChunk(storeId, loaderId, chunk.id, text);
      setEditing(null);
      setSaid(`Chunk ${chunk.chunkNo} saved and embedded again.`);
      load();
      onChange();
    } catch (err) {
      setSaid(message(err));
    }
  };
  const pages = data ? Math.max(1, Math.ceil(data.count / 50)) : 1;
  return (
    <section className="card chunk-browser">
      <h3>
        Chunks of {data?.file.loaderName ?? 'the loader'} <span className="hint">({data?.count ?? 0})</span>
      </h3>
      <div className="pager">
        <button type="button" className="ghost small" disabled={page <= 1} onClick={() => setPage(page - 1)}>← Previous</button>
        <span>
          page {page} of {pages}
        </span>
        <button type="button" className="ghost small" disabled={page >= pages} onClick={() => setPage(page + 1)}>Next →</button>
      </div>
      {data?.chunks.map((c) => (
        <article key={c.id} className="chunk-card" data-chunk={c.chunkNo}>
          <header>
            <strong>#{c.chunkNo}</strong> <span className="hint">{String(c.metadata.source ?? '')}</span>
            <span className="actions">
              <button type="button" className="ghost small" onClick={() => setEditing(c.id)}>Edit</button>
              <DeleteButton name={`chunk ${c.chunkNo}`} onDelete={async () => { await docstores.removeChunk(storeId, loaderId, c.id); load(); onChange(); }} />
            </span>
          </header>
          {editing === c.id ? (
            <form onSubmit={(e) => { e.preventDefault(); save(c, String(new FormData(e.currentTarget).get('text') ?? '')); }}>
              <textarea name="text" aria-label="Chunk text" defaultValue={c.pageContent} rows={5} />
              <button type="submit">Save</button>
              <button type="button" className="ghost" onClick={() => setEditing(null)}>Cancel</button>
            </form>
          ) : (
            <pre className="chunk">{c.pageContent}</pre>
          )}
        </article>
      ))}
      {said && <p className="notice" role="status">{said}</p>}
    </section>
  );
}

function VectorStore({ store, onSaved }: { store: DocStore; onSaved: (s: DocStore) => void }) {
  const [embeddings, setEmbeddings] = useState<NodeDesc[]>([]);
  const [stores, setStores] = useState<NodeDesc[]>([]);
  const [said, setSaid] = useState('');
  const chosen = (c: unknown, fallback: string) => {
    const v = c as { name?: string; config?: Record<string, unknown> } | null;
    return { name: v?.name ?? fallback, config: v?.config ?? {} };
  };
  const [embedding, setEmbedding] = useState(chosen(store.embeddingConfig, 'wordLlamaEmbeddings'));
  const [kept, setKept] = useState(chosen(store.vectorStoreConfig, 'canvasflowDocumentStore'));
  useEffect(() => {
    docstores.components('embeddings').then(setEmbeddings, () => setEmbeddings([]));
    docstores.components('vectorstore').then(setStores, () => setStores([]));
  }, []);
  const save = async () => {
    try {
      const topK = Number(kept.config.topK ?? 4);
      onSaved(
        await docstores.saveVectorStore(store.id, {
          embeddingName: embedding.name,
          embeddingConfig: without(embedding.config, 'embeddings'),
          vectorStoreName: kept.name,
          vectorStoreConfig: SEARCHED.has(kept.name) ? { topK } : without(kept.config, 'vectorStore'),
        }),
      );
      setSaid('Saved.');
    } catch (err) {
      setSaid(message(err));
    }
  };
  return (
    <section className="card vector-store">
      <h3>Vector store</h3>
      <p className="hint">
        Chunks are kept in canvasflow's database with a record manager; canvasflow's own store, the in-memory one and FAISS
        search them there, Qdrant, Chroma, Pinecone and Postgres get each chunk as well. Other embeddings, or another
        engine, empty the old place: process the loaders again.
      </p>
      <form className="vector-form" onSubmit={(e) => { e.preventDefault(); save(); }}>
        <div className="inline-form">
          <label>
            Embeddings{' '}
            <select aria-label="Embeddings" value={embedding.name} onChange={(e) => setEmbedding({ name: e.target.value, config: {} })}>
              {embeddings.map((n) => (
                <option key={n.name} value={n.name}>{n.label}</option>
              ))}
            </select>
          </label>
          <label>
            Vector store{' '}
            <select aria-label="Vector store" value={kept.name} onChange={(e) => setKept({ name: e.target.value, config: {} })}>
              {stores.map((n) => (
                <option key={n.name} value={n.name}>{n.label}</option>
              ))}
            </select>
          </label>
          {SEARCHED.has(kept.name) && (
            <label>
              Chunks a query finds{' '}
              <input
                type="number"
                min={1}
                max={100}
                aria-label="Top K"
                value={String(kept.config.topK ?? 4)}
                onChange={(e) => setKept({ ...kept, config: { ...kept.config, topK: Number(e.target.value) } })}
              />
            </label>
          )}
          <button type="submit">Save</button>
          {said && <span className="notice" role="status">{said}</span>}
        </div>
        {embedding.name !== 'wordLlamaEmbeddings' && (
          <ConfigForm owner="embeddings" chosen={embedding.name} config={embedding.config} onChange={(c) => setEmbedding({ ...embedding, config: c })} />
        )}
        {!SEARCHED.has(kept.name) && (
          <ConfigForm owner="vectorStore" chosen={kept.name} config={kept.config} onChange={(c) => setKept({ ...kept, config: c })} />
        )}
      </form>
    </section>
  );
}

function Query({ storeId }: { storeId: string }) {
  const [found, setFound] = useState<Found | null>(null);
  const [said, setSaid] = useState('');
  return (
    <section className="card query-box">
      <h3>Try a query</h3>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const text = String(new FormData(e.currentTarget).get('query') ?? '').trim();
          if (!text) return;
          try {
            setFound(await docstores.query(storeId, text));
            setSaid('');
          } catch (err) {
            setSaid(message(err));
          }
        }}
      >
        <input name="query" aria-label="Query" placeholder="what to look for" />
        <button type="submit">Search</button>
      </form>
      {found && found.docs.length === 0 && <p className="hint">Nothing found: process the loaders first.</p>}
      {found && found.docs.length > 0 && (
        <ol className="query-results">
          {found.docs.map((d) => (
            <li key={d.id}>
              <span className="score">{(d.score ?? 0).toFixed(3)}</span> <span className="hint">{String(d.metadata.source ?? '')}</span>
              <pre className="chunk">{d.pageContent}</pre>
            </li>
          ))}
        </ol>
      )}
      {found && <p className="hint">{found.timeTaken} ms</p>}
      {said && <p className="notice" role="status">{said}</p>}
    </section>
  );
}
