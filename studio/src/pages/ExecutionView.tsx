import { Background, Controls, ReactFlow, ReactFlowProvider, type Edge } from '@xyflow/react';
import { FlowiseClient } from 'canvasflow-sdk';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, ApiError } from '../api';
import { CanvasNode, CatalogueContext } from '../components/CanvasNode';
import {
  byNode,
  duration,
  firstShown,
  runStatus,
  shareLink,
  shown,
  type Execution,
  type TraceEntry,
} from '../executions';
import { toFlow, type StudioNode } from '../graph';
import { layout } from '../layout';
import { go } from '../router';
import type { NodeDesc } from '../types';

const nodeTypes = { canvasNode: CanvasNode };

// One run: its canvas with each node coloured by how it ended, and beside it the chosen
// node's inputs, outputs, time and tokens. A running one follows its event log live.
// `shared`: the read-only page of a run its owner shared (no sign-in, no canvas).
export function ExecutionView({ id, catalogue, shared = false }: { id: string; catalogue?: NodeDesc[]; shared?: boolean }) {
  const [run, setRun] = useState<Execution | null>(null);
  const [error, setError] = useState('');
  const [flow, setFlow] = useState<{ nodes: StudioNode[]; edges: Edge[] } | null>(null);
  const [chosen, setChosen] = useState<string | null>(null);
  const [live, setLive] = useState<Map<string, TraceEntry>>(new Map());
  const [notice, setNotice] = useState('');
  const byName = useMemo(() => new Map((catalogue ?? []).map((d) => [d.name, d])), [catalogue]);

  const load = useCallback(
    (attempt = 0): Promise<void> =>
      (shared ? api.publicExecution(id) : api.execution(id)).then(
        (r) => {
          setRun(r);
          setChosen((c) => c ?? firstShown(r.trace));
        },
        (e: ApiError) => {
          // a run just started (run again) is written a moment later: wait for it
          if (e.status === 404 && !shared && attempt < 20) {
            setTimeout(() => load(attempt + 1), 300);
            return;
          }
          setError(e.status === 404 ? (shared ? 'This run is not shared, or no longer kept.' : 'No such run.') : e.message);
        },
      ),
    [id, shared],
  );
  useEffect(() => {
    load();
  }, [load]);

  // the canvas the run belongs to, drawn read-only
  useEffect(() => {
    if (shared || !run || flow) return;
    // the version that answered, when it is known (else the canvas as it is now)
    const number = Number(run.version);
    const flowOf = Number.isInteger(number) && number > 0
      ? api.version(run.canvasId, number).catch(() => api.canvas(run.canvasId))
      : api.canvas(run.canvasId);
    flowOf.then(
      (row) => {
        const parsed = toFlow(JSON.parse(row.flowData || '{"nodes":[],"edges":[]}'), byName);
        setFlow({ nodes: parsed.needsLayout ? layout(parsed.nodes, parsed.edges) : parsed.nodes, edges: parsed.edges });
      },
      () => setFlow({ nodes: [], edges: [] }),
    );
  }, [run, shared, flow, byName]);

  // a run still going: follow its event log (node events, an agentflow's steps)
  const running = run?.status === 'running';
  useEffect(() => {
    if (!running || shared || !run) return;
    const stop = new AbortController();
    const client = new FlowiseClient({ baseUrl: location.origin, resume: false });
    const stream = client.resumePrediction({ canvasId: run.canvasId, chatMessageId: run.id, signal: stop.signal });
    (async () => {
      try {
        for await (const ev of stream) {
          const e = ev as { event: string; data: any };
          const nodeId = e.data?.nodeId;
          if ((e.event === 'node' || (e.event === 'step' && e.data?.type === 'agentflow')) && nodeId) {
            const status = e.event === 'node' ? e.data.status : String(e.data.status).toLowerCase();
            setLive((m) =>
              new Map(m).set(nodeId, {
                nodeId,
                status: status === 'inprogress' ? 'running' : status === 'finished' ? 'done' : status,
                ms: e.data.ms,
              }),
            );
          }
        }
      } catch {
        // the stream is gone: the record says how it ended
      }
      if (!stop.signal.aborted) setTimeout(() => load(), 300);
    })();
    const poll = setInterval(() => load(), 3000); // in case the log is on another process's memory
    return () => {
      stop.abort();
      clearInterval(poll);
    };
  }, [running, shared, run?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  const trace = useMemo(() => {
    const map = byNode(run?.trace);
    for (const [k, v] of live) if (!map.has(k) || running) map.set(k, { ...map.get(k), ...v });
    return map;
  }, [run, live, running]);
  const nodes = useMemo(
    () =>
      (flow?.nodes ?? []).map((n) => {
        const entry = trace.get(n.id);
        return {
          ...n,
          selected: n.id === chosen,
          draggable: false,
          data: {
            ...n.data,
            status: entry ? runStatus(entry.status) : undefined,
            ms: entry?.ms ?? undefined,
            tokens: entry?.tokens ?? undefined,
          },
        };
      }),
    [flow, trace, chosen],
  );

  if (error) return <main className="page"><p className="notice error">{error}</p></main>;
  if (!run) return <p className="loading">Loading the run…</p>;
  const entry = chosen ? trace.get(chosen) : undefined;
  const label = (nodeId: string) => flow?.nodes.find((n) => n.id === nodeId)?.data.label ?? trace.get(nodeId)?.label ?? nodeId;
  const steps = [...trace.values()];

  return (
    <main className="page execution" data-status={run.status}>
      <header className="run-head">
        {!shared && (
          <button type="button" className="ghost" onClick={() => go({ page: 'executions' })}>
            ← All runs
          </button>
        )}
        <h1>
          {run.canvasName ?? 'Canvas'} <span className={`status ${run.status}`}>{run.status}</span>
        </h1>
        <dl className="facts">
          <dt>Started</dt>
          <dd>{new Date(run.createdDate).toLocaleString()}</dd>
          <dt>Trigger</dt>
          <dd>{run.trigger}</dd>
          <dt>Time</dt>
          <dd>{duration(run.latencyMs)}</dd>
          <dt>First token</dt>
          <dd>{duration(run.ttftMs)}</dd>
          <dt>Tokens</dt>
          <dd>
            {run.promptTokens} in / {run.completionTokens} out
          </dd>
        </dl>
        {!shared && (
          <div className="actions">
            <button
              type="button"
              onClick={async () => {
                const again = await api.runAgain(run.id);
                go({ page: 'execution', id: again.executionId });
              }}
            >
              Run again
            </button>
            <label className="check">
              <input
                type="checkbox"
                checked={run.isPublic}
                onChange={async (e) => setRun(await api.shareExecution(run.id, e.target.checked))}
              />{' '}
              Shared read-only
            </label>
            {run.isPublic && (
              <span className="share">
                <code>{shareLink(location.origin, run.id)}</code>
                <button
                  type="button"
                  className="ghost"
                  onClick={() => navigator.clipboard?.writeText(shareLink(location.origin, run.id)).then(() => setNotice('Link copied.'))}
                >
                  Copy link
                </button>
              </span>
            )}
            <button
              type="button"
              className="ghost danger"
              onClick={async () => {
                if (!confirm('Delete this run?')) return;
                await api.deleteExecutions([run.id]);
                go({ page: 'executions' });
              }}
            >
              Delete
            </button>
          </div>
        )}
        {notice && <p className="notice">{notice}</p>}
      </header>
      <section className="run-io">
        <div>
          <h3>Question</h3>
          <pre className="wrap">{run.question || '(none)'}</pre>
        </div>
        <div>
          <h3>Answer</h3>
          <pre className="wrap">{run.answer || (run.error ? '' : '(none yet)')}</pre>
          {run.error && <p className="notice error">{run.error.message}</p>}
        </div>
      </section>
      <div className="run-body">
        {!shared && (
          <div className="run-canvas" aria-label="The run's canvas">
            <CatalogueContext.Provider value={byName}>
              <ReactFlowProvider>
                <ReactFlow<StudioNode, Edge>
                  nodes={nodes}
                  edges={flow?.edges ?? []}
                  nodeTypes={nodeTypes}
                  nodesConnectable={false}
                  nodesDraggable={false}
                  onNodeClick={(_e, n) => setChosen(n.id)}
                  fitView
                  minZoom={0.4}
                >
                  <Background />
                  <Controls showInteractive={false} />
                </ReactFlow>
              </ReactFlowProvider>
            </CatalogueContext.Provider>
          </div>
        )}
        <aside className="run-side" aria-label="Node details">
          <ol className="steps">
            {steps.map((s) => (
              <li key={s.nodeId}>
                <button
                  type="button"
                  className={`step ${runStatus(s.status)}${s.nodeId === chosen ? ' chosen' : ''}`}
                  onClick={() => setChosen(s.nodeId)}
                >
                  <span className="name">{label(s.nodeId)}</span>
                  <span className="meta">
                    {s.status} · {duration(s.ms)}
                    {s.tokens ? ` · ${s.tokens} tok` : ''}
                  </span>
                </button>
              </li>
            ))}
            {steps.length === 0 && <li className="empty">No node reported yet.</li>}
          </ol>
          {entry && (
            <div className="node-detail" data-node-id={entry.nodeId}>
              <h3>
                {label(entry.nodeId)} <small>{entry.name}</small>
              </h3>
              <p>
                <span className={`status ${entry.status}`}>{entry.status}</span> {duration(entry.ms)}
                {entry.tokens ? ` · ${entry.tokens} tokens` : ''}
              </p>
              {entry.error ? (
                <>
                  <h4>Error</h4>
                  <pre className="wrap error">{shown(entry.error)}</pre>
                </>
              ) : null}
              <h4>Input</h4>
              <pre className="wrap">{shown(entry.input) || '—'}</pre>
              <h4>Output</h4>
              <pre className="wrap">{shown(entry.output) || '—'}</pre>
            </div>
          )}
        </aside>
      </div>
    </main>
  );
}
