import { FlowiseClient, type PredictionStream } from 'canvasflow-sdk';
import { useEffect, useRef, useState } from 'react';
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
  // the next questions the canvas suggests (its follow-up prompts)
  followUps?: string[];
  // files sent with the question, by name
  files?: string[];
  // an agentflow stopped at a human input: what it asks
  action?: { data: { nodeId: string; nodeLabel: string }; mapping: { approve: string; reject: string } };
}

type HumanInput = { type: 'proceed' | 'reject'; startNodeId: string; feedback?: string };

// what the canvas's chat offers, from its public chatbot settings (as the widget reads them)
interface ChatOffer {
  starters: string[];
  images: boolean;
  files: boolean;
  accept: string;
}

interface Upload {
  data: string;
  type: 'file';
  name: string;
  mime: string;
}

function readUpload(file: File): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ data: String(reader.result), type: 'file', name: file.name, mime: file.type || 'text/plain' });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function chatOffer(canvasId: string): Promise<ChatOffer> {
  const r = await fetch(`/api/v1/public-chatbotConfig/${encodeURIComponent(canvasId)}`);
  const cfg = r.ok ? await r.json() : {};
  const starters = Object.values((cfg.starterPrompts ?? {}) as Record<string, { prompt?: string }>)
    .map((p) => p?.prompt ?? '')
    .filter(Boolean);
  const uploads = cfg.uploads ?? {};
  const types = [
    ...(uploads.imgUploadSizeAndTypes ?? []).flatMap((t: { fileTypes: string[] }) => t.fileTypes),
    ...(uploads.fileUploadSizeAndTypes ?? []).flatMap((t: { fileTypes: string[] }) => t.fileTypes),
  ];
  return {
    starters,
    images: Boolean(uploads.isImageUploadAllowed),
    files: Boolean(uploads.isRAGFileUploadAllowed),
    accept: types.join(','),
  };
}

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
  settingsKey,
  beforeRun,
  onNode,
  onStart,
}: {
  canvasId: string;
  // changes when the canvas's settings are saved (what the chat offers is read again)
  settingsKey?: string;
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
  const [offer, setOffer] = useState<ChatOffer>({ starters: [], images: false, files: false, accept: '' });
  const [attached, setAttached] = useState<Upload[]>([]);
  const [uploadError, setUploadError] = useState('');
  useEffect(() => {
    chatOffer(canvasId).then(setOffer, () => undefined);
  }, [canvasId, settingsKey]);

  const update = (fn: (t: Turn) => Turn) => setTurns((all) => [...all.slice(0, -1), fn(all[all.length - 1])]);

  const [feedback, setFeedback] = useState('');

  const ask = async (human?: HumanInput, text?: string) => {
    const q = human ? '' : (text ?? question).trim();
    if ((!q && !human) || busy) return;
    if (!(await beforeRun())) return;
    if (!human && text === undefined) setQuestion('');
    const uploads = human ? [] : attached;
    setAttached([]);
    setFeedback('');
    setBusy(true);
    onStart();
    const shown = human ? `${human.type === 'proceed' ? 'Proceed' : 'Reject'}${human.feedback ? `: ${human.feedback}` : ''}` : q;
    setTurns((all) => [
      ...all.map((t) => ({ ...t, action: undefined })),
      {
        question: shown,
        answer: '',
        sources: [],
        steps: [],
        done: false,
        trace: [],
        files: uploads.map((u) => u.name),
      },
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
        ...(uploads.length ? { uploads } : {}),
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
            followUps: e.data.followUpPrompts ? (JSON.parse(e.data.followUpPrompts) as string[]) : undefined,
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
            <div className="q">
              {t.question}
              {t.files && t.files.length > 0 && <small className="sent-files">with {t.files.join(', ')}</small>}
            </div>
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
              {t.done && i === turns.length - 1 && t.followUps && t.followUps.length > 0 && (
                <div className="chips follow-ups" aria-label="Follow-up questions">
                  {t.followUps.map((f) => (
                    <button key={f} type="button" className="chip" disabled={busy} onClick={() => ask(undefined, f)}>
                      {f}
                    </button>
                  ))}
                </div>
              )}
            </div>
          </div>
        ))}
        {turns.length === 0 && offer.starters.length > 0 && (
          <div className="chips starters" aria-label="Starter prompts">
            {offer.starters.map((s) => (
              <button key={s} type="button" className="chip" onClick={() => ask(undefined, s)}>
                {s}
              </button>
            ))}
          </div>
        )}
      </div>
      {(attached.length > 0 || uploadError) && (
        <div className="attached" aria-label="Attached files">
          {attached.map((a, i) => (
            <span key={i} className="chip">
              {a.name}
              <button type="button" className="ghost small" aria-label={`Remove ${a.name}`} onClick={() => setAttached((all) => all.filter((_, j) => j !== i))}>
                x
              </button>
            </span>
          ))}
          {uploadError && <span className="error">{uploadError}</span>}
        </div>
      )}
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
        {(offer.images || offer.files) && (
          <label className="attach ghost small" title={offer.images && offer.files ? 'Images and files' : offer.images ? 'Images' : 'Files'}>
            Attach
            <input
              type="file"
              multiple
              hidden
              aria-label="Attach files"
              accept={offer.accept}
              onChange={async (e) => {
                const files = Array.from(e.target.files ?? []);
                e.target.value = '';
                try {
                  setUploadError('');
                  const read = await Promise.all(files.map(readUpload));
                  setAttached((all) => [...all, ...read]);
                } catch (err) {
                  setUploadError(String(err));
                }
              }}
            />
          </label>
        )}
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
