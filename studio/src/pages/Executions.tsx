import { useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import { duration, pages, STATUSES, TRIGGERS, type ExecutionPage, type ExecutionQuery } from '../executions';
import { go, href } from '../router';
import type { CanvasRow } from '../types';

const LIMIT = 20;

// Every run of every canvas, newest first: filter by canvas, status, trigger and dates;
// open one to see its nodes; delete several at once.
export function Executions() {
  const [query, setQuery] = useState<ExecutionQuery>({ page: 1, limit: LIMIT });
  const [result, setResult] = useState<ExecutionPage | null>(null);
  const [canvases, setCanvases] = useState<CanvasRow[]>([]);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);

  useEffect(() => {
    api.canvases().then(setCanvases, () => setCanvases([]));
  }, []);
  useEffect(() => {
    let live = true;
    api.executions(query).then(
      (page) => live && (setResult(page), setError('')),
      (e: ApiError) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [query, tick]);
  // runs still going are shown as they end
  useEffect(() => {
    if (!result?.data.some((e) => e.status === 'running')) return;
    const timer = setTimeout(() => setTick((t) => t + 1), 1500);
    return () => clearTimeout(timer);
  }, [result]);

  const set = (change: Partial<ExecutionQuery>) => {
    setPicked(new Set());
    setQuery({ ...query, page: 1, ...change });
  };
  const total = result?.total ?? 0;
  const page = query.page ?? 1;
  const last = pages(total, LIMIT);
  const rows = result?.data ?? [];

  return (
    <main className="page executions">
      <h1>Executions</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Canvas
          <select value={query.canvasId ?? ''} onChange={(e) => set({ canvasId: e.target.value })}>
            <option value="">All canvases</option>
            {canvases.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={query.status ?? ''} onChange={(e) => set({ status: e.target.value })}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Trigger
          <select value={query.trigger ?? ''} onChange={(e) => set({ trigger: e.target.value })}>
            <option value="">Any</option>
            {TRIGGERS.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="date" value={query.startDate ?? ''} onChange={(e) => set({ startDate: e.target.value })} />
        </label>
        <label>
          To
          <input
            type="date"
            value={(query.endDate ?? '').slice(0, 10)}
            onChange={(e) => set({ endDate: e.target.value ? `${e.target.value}T23:59:59` : '' })}
          />
        </label>
        <button type="button" className="ghost" onClick={() => setTick(tick + 1)}>
          Refresh
        </button>
        {picked.size > 0 && (
          <button
            type="button"
            className="ghost danger"
            onClick={async () => {
              if (!confirm(`Delete ${picked.size} execution${picked.size > 1 ? 's' : ''}?`)) return;
              await api.deleteExecutions([...picked]);
              setPicked(new Set());
              setTick(tick + 1);
            }}
          >
            Delete {picked.size}
          </button>
        )}
      </form>
      {error && <p className="notice error">{error}</p>}
      {result && rows.length === 0 && (
        <p className="empty">
          No runs yet{query.canvasId || query.status || query.trigger ? ' match these filters' : ''}. Every
          prediction, webhook, schedule, MCP or OpenAI call of a canvas is listed here.
        </p>
      )}
      {rows.length > 0 && (
        <table className="runs">
          <thead>
            <tr>
              <th>
                <input
                  type="checkbox"
                  aria-label="Select all"
                  checked={picked.size === rows.length}
                  onChange={(e) => setPicked(new Set(e.target.checked ? rows.map((r) => r.id) : []))}
                />
              </th>
              <th>Started</th>
              <th>Canvas</th>
              <th>Trigger</th>
              <th>Status</th>
              <th>Time</th>
              <th>Tokens</th>
              <th>Question</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={r.id}
                data-status={r.status}
                onClick={() => go({ page: 'execution', id: r.id })}
                className="clickable"
              >
                <td onClick={(e) => e.stopPropagation()}>
                  <input
                    type="checkbox"
                    aria-label={`Select ${r.id}`}
                    checked={picked.has(r.id)}
                    onChange={(e) => {
                      const next = new Set(picked);
                      if (e.target.checked) next.add(r.id);
                      else next.delete(r.id);
                      setPicked(next);
                    }}
                  />
                </td>
                <td>
                  <a href={href({ page: 'execution', id: r.id })} onClick={(e) => e.preventDefault()}>
                    {new Date(r.createdDate).toLocaleString()}
                  </a>
                </td>
                <td>{r.canvasName ?? r.canvasId}</td>
                <td>
                  <span className="tag">{r.trigger}</span>
                </td>
                <td>
                  <span className={`status ${r.status}`}>{r.status}</span>
                </td>
                <td>{duration(r.latencyMs)}</td>
                <td>{r.promptTokens + r.completionTokens || ''}</td>
                <td className="question" title={r.question ?? ''}>
                  {(r.question ?? '').slice(0, 80)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {total > LIMIT && (
        <nav className="pager" aria-label="Pages">
          <button type="button" className="ghost" disabled={page <= 1} onClick={() => setQuery({ ...query, page: page - 1 })}>
            ← Newer
          </button>
          <span>
            Page {page} of {last} · {total} runs
          </span>
          <button
            type="button"
            className="ghost"
            disabled={page >= last}
            onClick={() => setQuery({ ...query, page: page + 1 })}
          >
            Older →
          </button>
        </nav>
      )}
    </main>
  );
}
