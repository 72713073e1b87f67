import { useEffect, useState } from 'react';
import { api, ApiError, type ApiKey } from '../api';
import type { CanvasRow } from '../types';
import { chatbotForm, withChatbot, type ChatbotForm } from '../chatbot';
import { widgetForm, withWidget, type WidgetForm } from '../widget';
import { analyticForm, withAnalytic, type AnalyticForm } from '../analytic';
import { AnalyticSettings } from './AnalyticSettings';
import { ChatbotSettings } from './ChatbotSettings';
import { McpSettings } from './McpSettings';
import { SaveAsTemplate } from './SaveAsTemplate';
import { TriggerSettings, triggersOf, withTriggers, type Triggers } from './TriggerSettings';

// A canvas's settings: keys assigned, allowed origins, rate limit, what is returned,
// Flowise's chat widget on a website.
export function CanvasSettings({ canvas, onSaved }: { canvas: CanvasRow; onSaved: (c: CanvasRow) => void }) {
  const s = canvas.settings as Record<string, any>;
  const [origins, setOrigins] = useState<string>((s.allowedOrigins ?? []).join('\n'));
  const [limit, setLimit] = useState<string>(String(s.rateLimit?.limit ?? ''));
  const [windowSec, setWindowSec] = useState<string>(String(s.rateLimit?.window ?? ''));
  const [sources, setSources] = useState<boolean>(Boolean(s.returnSourceDocuments));
  const [steps, setSteps] = useState<boolean>(Boolean(s.returnIntermediateSteps));
  const [widget, setWidget] = useState<WidgetForm>(widgetForm(s));
  const setW = (change: Partial<WidgetForm>) => setWidget({ ...widget, ...change });
  const [triggers, setTriggers] = useState<Triggers>(triggersOf(s));
  const [chatbot, setChatbot] = useState<ChatbotForm>(chatbotForm(s));
  const [analytic, setAnalytic] = useState<AnalyticForm>(analyticForm(s));
  const agentflow = canvas.flowData.includes('"startAgentflow"');
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [fresh, setFresh] = useState('');
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api.keys().then(setKeys, () => setKeys([]));
  }, [fresh]);
  const mine = keys.filter((k) => k.canvases.includes(canvas.id));
  return (
    <form
      className="settings"
      onSubmit={async (e) => {
        e.preventDefault();
        const settings: Record<string, unknown> = {
          ...withTriggers(
            withAnalytic(withChatbot(withWidget(canvas.settings as Record<string, unknown>, widget), chatbot), analytic),
            triggers,
            agentflow,
          ),
          allowedOrigins: origins.split(/\s+/).filter(Boolean),
          returnSourceDocuments: sources,
          returnIntermediateSteps: steps,
        };
        if (limit && windowSec) settings.rateLimit = { limit: Number(limit), window: Number(windowSec) };
        else delete settings.rateLimit;
        try {
          onSaved(await api.updateCanvas(canvas.id, { settings }));
          setNotice('Settings saved.');
        } catch (err) {
          setNotice(err instanceof ApiError ? err.message : String(err));
        }
      }}
    >
      <h2>Settings</h2>
      <label>
        Allowed origins (one per line; empty: any)
        <textarea rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
      </label>
      <fieldset>
        <legend>Rate limit per client</legend>
        <input aria-label="Requests" placeholder="requests" value={limit} onChange={(e) => setLimit(e.target.value)} />
        per
        <input aria-label="Seconds" placeholder="seconds" value={windowSec} onChange={(e) => setWindowSec(e.target.value)} />
        s
      </fieldset>
      <label className="check">
        <input type="checkbox" checked={sources} onChange={(e) => setSources(e.target.checked)} /> Return source documents
      </label>
      <label className="check">
        <input type="checkbox" checked={steps} onChange={(e) => setSteps(e.target.checked)} /> Return intermediate steps
      </label>
      <fieldset className="widget">
        <legend>Chat widget on a website</legend>
        <label className="check">
          <input type="checkbox" checked={widget.enabled} onChange={(e) => setW({ enabled: e.target.checked })} />{' '}
          Serve Flowise's chat widget (streams in Flowise's format)
        </label>
        <label>
          Starter prompts (one per line)
          <textarea rows={3} value={widget.starterPrompts} onChange={(e) => setW({ starterPrompts: e.target.value })} />
        </label>
        <label className="check">
          <input type="checkbox" checked={widget.feedback} onChange={(e) => setW({ feedback: e.target.checked })} /> Thumbs
          up and down on answers
        </label>
        <label className="check">
          <input type="checkbox" checked={widget.images} onChange={(e) => setW({ images: e.target.checked })} /> Image
          uploads (for vision models)
        </label>
        <label className="check">
          <input type="checkbox" checked={widget.files} onChange={(e) => setW({ files: e.target.checked })} /> File uploads
          (text, Markdown, CSV, JSON, PDF)
        </label>
        <p className="hint">The code for your website is under Embed below.</p>
      </fieldset>
      <ChatbotSettings canvas={canvas} value={chatbot} onChange={setChatbot} />
      <TriggerSettings canvas={canvas} value={triggers} onChange={setTriggers} />
      <AnalyticSettings value={analytic} onChange={setAnalytic} />
      <button type="submit">Save settings</button>
      {notice && <p className="notice saved">{notice}</p>}
      <McpSettings canvas={canvas} />
      <SaveAsTemplate canvas={canvas} />
      <h3>API keys for this canvas</h3>
      <p className="hint">A canvas with keys needs one of them for predictions; one without is open to anyone.</p>
      <ul>
        {mine.map((k) => (
          <li key={k.id}>
            {k.name} <code>cf_{k.prefix}_…</code>
          </li>
        ))}
        {mine.length === 0 && <li>None: open to anyone.</li>}
      </ul>
      <button
        type="button"
        className="ghost"
        onClick={async () => {
          const made = await api.createKey(`${canvas.name} key`, false, [canvas.id]);
          setFresh(made.key ?? '');
        }}
      >
        Create a key for this canvas
      </button>
      {fresh && (
        <p className="fresh-key">
          Copy it now, it is shown once: <code>{fresh}</code>
        </p>
      )}
    </form>
  );
}
