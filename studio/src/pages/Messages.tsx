import { useEffect, useState } from 'react';
import { api, ApiError, type Conversation } from '../api';
import type { SchemaLeadOut } from '../api-types';
import { DeleteButton } from '../components/DeleteButton';
import { LeadsTable } from '../components/LeadsTable';
import { Markdown } from '../components/Markdown';
import { download, toCsv, type Message } from '../messages';
import { go } from '../router';
import type { CanvasRow } from '../types';
import { UsageCharts } from './Usage';

interface Filters {
  from: string;
  to: string;
  feedback: '' | 'THUMBS_UP' | 'THUMBS_DOWN';
  text: string;
  session: string;
}

const PAGE = 50;
const none: Filters = { from: '', to: '', feedback: '', text: '', session: '' };

function query(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.from) q.startDate = new Date(`${f.from}T00:00:00`).toISOString();
  if (f.to) q.endDate = new Date(`${f.to}T23:59:59`).toISOString();
  if (f.feedback) q.feedbackType = f.feedback;
  if (f.text.trim()) q.text = f.text.trim();
  if (f.session.trim()) q.sessionId = f.session.trim();
  return q;
}

// A canvas's conversations (Flowise's "View Messages"): by session, latest first, paged
// from the server (thousands page smoothly), filtered by dates, rating, text and session;
// one conversation's messages with their sources, tool calls and run; deleted, exported
// as JSON or CSV. Its leads, and its usage.
export function Messages({ id }: { id: string }) {
  const [canvas, setCanvas] = useState<CanvasRow | null>(null);
  const [tab, setTab] = useState<'conversations' | 'leads' | 'usage'>('conversations');
  const [filters, setFilters] = useState<Filters>(none);
  const [applied, setApplied] = useState<Filters>(none);
  const [list, setList] = useState<Conversation[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [page, setPage] = useState(1);
  const [chosen, setChosen] = useState<string | null>(null);
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [leads, setLeads] = useState<SchemaLeadOut[] | null>(null);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api.canvas(id).then(setCanvas, (e: ApiError) => setNotice(e.message));
    api.leads(id).then(setLeads, () => setLeads([]));
  }, [id]);
  const load = async (f: Filters, p: number) => {
    try {
      const got = await api.conversations(id, { ...query(f), page: String(p), pageSize: String(PAGE) });
      setTotal(got.total);
      setList((prev) => (p === 1 ? got.conversations : [...prev, ...got.conversations]));
      setPage(p);
    } catch (e) {
      setNotice(e instanceof ApiError ? e.message : String(e));
    }
  };
  useEffect(() => {
    load(applied, 1);
  }, [id, applied]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (chosen === null) return setMessages(null);
    api.messages(id, { sessionId: chosen }).then(setMessages, (e: ApiError) => setNotice(e.message));
  }, [id, chosen]);
  const exportAs = async (kind: 'json' | 'csv') => {
    // whole conversations: every message of those the filters select
    const all = await api.messages(id, { ...query(applied), conversations: 'true' });
    const name = `${canvas?.slug ?? id}-messages.${kind}`;
    if (kind === 'json') download(name, 'application/json', JSON.stringify(all, null, 2));
    else download(name, 'text/csv', toCsv(all));
    setNotice(`Exported ${all.length} messages.`);
  };
  const set = (change: Partial<Filters>) => setFilters({ ...filters, ...change });
  return (
    <main className="list-page messages-page">
      <header className="messages-head">
        <h2>{canvas ? canvas.name : 'Messages'}</h2>
        <a
          href={`/studio/canvas/${id}`}
          onClick={(e) => {
            e.preventDefault();
            go({ page: 'editor', id });
          }}
        >
          Open the canvas
        </a>
      </header>
      <div className="embed-tabs" role="tablist">
        {(
          [
            ['conversations', `Conversations${total !== null ? ` (${total})` : ''}`],
            ['leads', `Leads${leads ? ` (${leads.length})` : ''}`],
            ['usage', 'Usage'],
          ] as const
        ).map(([key, label]) => (
          <button key={key} type="button" role="tab" aria-selected={tab === key} className={tab === key ? 'small' : 'ghost small'} onClick={() => setTab(key)}>
            {label}
          </button>
        ))}
      </div>
      {tab === 'conversations' && (
        <>
          <form
            className="message-filters"
            onSubmit={(e) => {
              e.preventDefault();
              setChosen(null);
              setApplied(filters);
            }}
          >
            <label>
              From <input type="date" aria-label="From" value={filters.from} onChange={(e) => set({ from: e.target.value })} />
            </label>
            <label>
              To <input type="date" aria-label="To" value={filters.to} onChange={(e) => set({ to: e.target.value })} />
            </label>
            <select aria-label="Feedback" value={filters.feedback} onChange={(e) => set({ feedback: e.target.value as Filters['feedback'] })}>
              <option value="">Any feedback</option>
              <option value="THUMBS_UP">Rated good</option>
              <option value="THUMBS_DOWN">Rated bad</option>
            </select>
            <input type="search" aria-label="Text" placeholder="Text in a message" value={filters.text} onChange={(e) => set({ text: e.target.value })} />
            <input aria-label="Session" placeholder="Session id" value={filters.session} onChange={(e) => set({ session: e.target.value })} />
            <button type="submit">Filter</button>
            <button type="button" className="ghost" onClick={() => { setFilters(none); setApplied(none); setChosen(null); }}>
              Clear
            </button>
            <span className="spacer" />
            <button type="button" className="ghost" onClick={() => exportAs('json')}>Export JSON</button>
            <button type="button" className="ghost" onClick={() => exportAs('csv')}>Export CSV</button>
          </form>
          {total === 0 && <p className="empty">No conversations{applied === none ? ' yet: they appear here as people ask' : ' match'}.</p>}
          <div className="messages-split">
            <ul className="conversation-list" aria-label="Conversations">
              {list.map((c) => (
                <li key={c.sessionId ?? c.chatId}>
                  <button
                    type="button"
                    className={`conversation${chosen === c.sessionId ? ' chosen' : ''}`}
                    data-session={c.sessionId}
                    onClick={() => setChosen(c.sessionId ?? null)}
                  >
                    <strong>{c.firstQuestion || '(no question)'}</strong>
                    <small>
                      {new Date(c.lastDate).toLocaleString()} · {c.messages} messages · {c.tokens} tokens
                      {c.thumbsUp ? ` · ${c.thumbsUp} good` : ''}
                      {c.thumbsDown ? ` · ${c.thumbsDown} bad` : ''}
                      {c.source ? ` · ${c.source}` : ''}
                      {c.version ? ` · v${c.version}` : ''}
                    </small>
                  </button>
                </li>
              ))}
              {total !== null && list.length < total && (
                <li>
                  <button type="button" className="ghost load-more" onClick={() => load(applied, page + 1)}>
                    Load more ({total - list.length} left)
                  </button>
                </li>
              )}
            </ul>
            <section className="conversation-view" aria-label="Conversation">
              {chosen === null && <p className="hint">Pick a conversation to read it.</p>}
              {chosen !== null && messages && (
                <>
                  <div className="conversation-tools">
                    <code>{chosen}</code>
                    <DeleteButton
                      name="this conversation"
                      onDelete={async () => {
                        await api.deleteMessages(id, { sessionId: chosen });
                        setChosen(null);
                        load(applied, 1);
                      }}
                    />
                  </div>
                  {messages.map((m) => (
                    <article key={m.id} className={`message ${m.role}`} data-message={m.id}>
                      <header>
                        <span>{m.role === 'userMessage' ? 'Question' : 'Answer'}</span>
                        <small>{new Date(m.createdDate).toLocaleString()}</small>
                        {m.feedback && (
                          <span className={`badge ${(m.feedback as { rating: string }).rating === 'THUMBS_UP' ? 'good' : 'bad'}`}>
                            {(m.feedback as { rating: string }).rating === 'THUMBS_UP' ? 'rated good' : 'rated bad'}
                          </span>
                        )}
                        {m.status !== 'completed' && <span className="badge bad">{m.status}</span>}
                      </header>
                      <Markdown text={m.content} />
                      {(m.usedTools ?? []).length > 0 && (
                        <details>
                          <summary>Tool calls ({m.usedTools!.length})</summary>
                          <pre>{JSON.stringify(m.usedTools, null, 2)}</pre>
                        </details>
                      )}
                      {(m.sourceDocuments ?? []).length > 0 && (
                        <details>
                          <summary>Sources ({m.sourceDocuments!.length})</summary>
                          <pre>{JSON.stringify(m.sourceDocuments, null, 2)}</pre>
                        </details>
                      )}
                      {m.role === 'apiMessage' && (
                        <a
                          className="small"
                          href={`/studio/executions/${m.id}`}
                          onClick={(e) => {
                            e.preventDefault();
                            go({ page: 'execution', id: m.id });
                          }}
                        >
                          Its run, node by node
                        </a>
                      )}
                    </article>
                  ))}
                </>
              )}
            </section>
          </div>
        </>
      )}
      {tab === 'leads' && (
        <>
          {leads && leads.length === 0 && <p className="empty">No leads yet: turn them on in the canvas's settings.</p>}
          {leads && leads.length > 0 && <LeadsTable leads={leads} className="library-table" />}
        </>
      )}
      {tab === 'usage' && <UsageCharts canvasId={id} />}
      {notice && <p className="notice" role="status">{notice}</p>}
    </main>
  );
}
