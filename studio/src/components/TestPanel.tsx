import { FlowiseClient, type PredictionStream } from 'canvasflow-sdk';
import { useRef, useState } from 'react';
import type { RunStatus } from '../types';
import { Markdown } from './Markdown';

interface Turn {
  question: string;
  answer: string;
  sources: { pageContent: string; metadata: Record<string, unknown> }[];
  steps: { step: string; type: string; input: unknown; output: unknown }[];
  error?: string;
  done: boolean;
  usage?: string;
  trace: NodeRun[];
  // the answer's id (its metadata), for feedback; the rating given here
  messageId?: string;
  rating?: 'THUMBS_UP' | 'THUMBS_DOWN';
  // an agentflow stopped at a human input: what it asks
  action?: { data: { nodeId: string; nodeLabel: string }; mapping: { approve: string; reject: string } };
}

type HumanInput = { type: 'proceed' | 'reject'; startNodeId: string; feedback?: string };

export interface NodeRun {
  nodeId: string;
  status: RunStatus;
  ms?: number;
  tokens?: number;
}

// The canvas's test chat: the answer streams, sources and steps show, and every node
// lights up as it runs, from the same event stream any client gets (with node events).
// the studio's runs: recorded as the studio's, and on the draft (the latest save), not
// the version the canvas serves when one is published
const asStudio: typeof fetch = (input, init) =>
  fetch(input, {
    ...init,
    headers: {
      ...(init?.headers as Record<string, string>),
      'X-Canvasflow-Trigger': 'studio',
      'X-Canvasflow-Version': 'draft',
    },
  });

export function TestPanel({
  canvasId,
  beforeRun,
  onNode,
  onStart,
}: {
  canvasId: string;
  beforeRun: () => Promise<boolean>;
  onNode: (run: NodeRun) => void;
  onStart: () => void;
}) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [expanded, setExpanded] = useState(false);
  const [copied, setCopied] = useState<number | null>(null);
  const [question, setQuestion] = useState('');
  const [busy, setBusy] = useState(false);
  const stream = useRef<PredictionStream | null>(null);
  const chatId = useRef(crypto.randomUUID());

  const update = (fn: (t: Turn) => Turn) => setTurns((all) => [...all.slice(0, -1), fn(all[all.length - 1])]);

  const [feedback, setFeedback] = useState('');

  const ask = async (human?: HumanInput) => {
    const q = human ? '' : question.trim();
    if ((!q && !human) || busy) return;
    if (!(await beforeRun())) return;
    if (!human) setQuestion('');
    setFeedback('');
    setBusy(true);
    onStart();
    const shown = human ? `${human.type === 'proceed' ? 'Proceed' : 'Reject'}${human.feedback ? `: ${human.feedback}` : ''}` : q;
    setTurns((all) => [
      ...all.map((t) => ({ ...t, action: undefined })),
      { question: shown, answer: '', sources: [], steps: [], done: false, trace: [] },
    ]);
    try {
      // the run's record says the studio started it
      const client = new FlowiseClient({ baseUrl: location.origin, fetch: asStudio });
      const s = await client.createPrediction({
        canvasId,
        question: q,
        chatId: chatId.current,
        streaming: true,
        streamFormat: 'canvasflow', // what this panel reads, whatever the canvas streams to others
        overrideConfig: { returnSourceDocuments: true, returnIntermediateSteps: true, returnNodeEvents: true },
        ...(human ? { humanInput: human } : {}),
      });
      stream.current = s;
      for await (const ev of s) {
        const e = ev as { event: string; data: any };
        if (e.event === 'token') update((t) => ({ ...t, answer: t.answer + e.data }));
        else if (e.event === 'node') {
          onNode(e.data as NodeRun);
          if (e.data.status !== 'running') update((t) => ({ ...t, trace: [...t.trace, e.data as NodeRun] }));
        }
        else if (e.event === 'source') update((t) => ({ ...t, sources: e.data }));
        else if (e.event === 'step') {
          // an agentflow's node steps light the nodes up (node events); tool steps show
          if (e.data.type !== 'agentflow') update((t) => ({ ...t, steps: [...t.steps, e.data] }));
        } else if (e.event === 'action') update((t) => ({ ...t, action: e.data }));
        else if (e.event === 'error') update((t) => ({ ...t, error: e.data.message }));
        else if (e.event === 'metadata') {
          const u = e.data.usage;
          update((t) => ({
            ...t,
            messageId: e.data.chatMessageId,
            // the model is left out when the run used none (an agentflow's direct reply)
            usage: [
              e.data.model,
              `${u?.prompt_tokens ?? 0} in / ${u?.completion_tokens ?? 0} out`,
              `${e.data.latency_ms} ms`,
              e.data.status,
            ]
              .filter(Boolean)
              .join(' · '),
          }));
        }
      }
    } catch (err) {
      update((t) => ({ ...t, error: (err as { serverMessage?: string }).serverMessage ?? String(err) }));
    } finally {
      update((t) => ({ ...t, done: true }));
      stream.current = null;
      setBusy(false);
    }
  };

  // a thumbs up or down, stored as the answer's feedback (as the chat widget's)
  const rate = async (i: number, rating: 'THUMBS_UP' | 'THUMBS_DOWN') => {
    const t = turns[i];
    if (!t.messageId) return;
    const r = await fetch(`/api/v1/feedback/${encodeURIComponent(canvasId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ chatId: chatId.current, messageId: t.messageId, rating }),
    });
    if (r.ok) setTurns((all) => all.map((x, j) => (j === i ? { ...x, rating } : x)));
  };
  const copy = (i: number) =>
    navigator.clipboard.writeText(turns[i].answer).then(
      () => setCopied(i),
      () => setCopied(-1),
    );

  return (
    <aside className={`test-panel${expanded ? ' expanded' : ''}`} aria-label="Test chat">
      <header className="test-head">
        <h2>Test</h2>
        <button
          type="button"
          className="ghost small"
          id="test-new"
          disabled={busy}
          title="Start a new conversation (a new chat id)"
          onClick={() => {
            chatId.current = crypto.randomUUID();
            setTurns([]);
          }}
        >
          New chat
        </button>
        <button type="button" className="ghost small" id="test-expand" aria-pressed={expanded} onClick={() => setExpanded(!expanded)}>
          {expanded ? 'Shrink' : 'Expand'}
        </button>
      </header>
      <div className="turns">
        {turns.map((t, i) => (
          <div key={i} className="turn">
            <div className="q">{t.question}</div>
            <div className="a" data-done={t.done ? 'true' : 'false'}>
              <Markdown text={t.answer} />
              {t.error && <p className="error">{t.error}</p>}
              {t.steps.map((s, j) => (
                <details key={j} className="step">
                  <summary>Step: {s.step}</summary>
                  <pre>{JSON.stringify({ input: s.input, output: s.output }, null, 2)}</pre>
                </details>
              ))}
              {t.sources.length > 0 && (
                <details className="sources">
                  <summary>Sources ({t.sources.length})</summary>
                  {t.sources.map((d, j) => (
                    <blockquote key={j}>
                      <strong>{String(d.metadata.title ?? d.metadata.source ?? `source ${j + 1}`)}</strong>
                      <p>{d.pageContent}</p>
                    </blockquote>
                  ))}
                </details>
              )}
              {t.trace.length > 0 && (
                <details className="trace">
                  <summary>Run: {t.trace.length} nodes</summary>
                  <ol>
                    {t.trace.map((r, j) => (
                      <li key={j} data-node={r.nodeId} className={r.status}>
                        {r.nodeId} · {r.status} · {r.ms ?? 0} ms{r.tokens ? ` · ${r.tokens} tokens` : ''}
                      </li>
                    ))}
                  </ol>
                </details>
              )}
              {t.action && (
                <div className="human-input" data-node={t.action.data.nodeId}>
                  <input
                    aria-label="Feedback"
                    placeholder="Feedback (optional)"
                    value={feedback}
                    onChange={(e) => setFeedback(e.target.value)}
                  />
                  <button
                    type="button"
                    id="human-proceed"
                    onClick={() => ask({ type: 'proceed', startNodeId: t.action!.data.nodeId, feedback })}
                  >
                    {t.action.mapping.approve}
                  </button>
                  <button
                    type="button"
                    className="ghost"
                    id="human-reject"
                    onClick={() => ask({ type: 'reject', startNodeId: t.action!.data.nodeId, feedback })}
                  >
                    {t.action.mapping.reject}
                  </button>
                </div>
              )}
              {t.done && t.answer && (
                <div className="answer-tools">
                  <button type="button" className="ghost small" onClick={() => copy(i)}>
                    {copied === i ? 'Copied' : 'Copy'}
                  </button>
                  {t.messageId && (
                    <>
                      <button type="button" className="ghost small" aria-label="Good answer" aria-pressed={t.rating === 'THUMBS_UP'} onClick={() => rate(i, 'THUMBS_UP')}>
                        Good
                      </button>
                      <button type="button" className="ghost small" aria-label="Bad answer" aria-pressed={t.rating === 'THUMBS_DOWN'} onClick={() => rate(i, 'THUMBS_DOWN')}>
                        Bad
                      </button>
                    </>
                  )}
                </div>
              )}
              {t.usage && <small className="usage">{t.usage}</small>}
            </div>
          </div>
        ))}
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          ask();
        }}
      >
        <textarea
          id="test-question"
          rows={2}
          placeholder="Ask the canvas… (Enter sends)"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              ask();
            }
          }}
        />
        {busy ? (
          <button type="button" onClick={() => stream.current?.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" id="test-send">
            Send
          </button>
        )}
      </form>
    </aside>
  );
}
