import { useEffect, useState } from 'react';
import { api } from '../api';
import {
  EMBED_KINDS,
  FOLLOW_UP_PROVIDERS,
  type ChatbotForm,
  type EmbedKind,
  embedCode,
} from '../chatbot';
import type { SchemaLeadOut } from '../api-types';
import type { CanvasRow } from '../types';
import { CodeField } from './NodeForm';
import { CredentialSelect } from './CredentialSelect';
import { LeadsTable } from './LeadsTable';

interface Stats {
  totalMessages: number;
  totalSessions: number;
  totalFeedback: number;
  positiveFeedback: number;
}

// The settings Flowise keeps per chatflow beside the widget's: follow-up prompts,
// post-processing, leads, feedback statistics, the allowed-domains message, the public
// chatbot page and its theme, and the embed code. Part of the canvas's settings form.
export function ChatbotSettings({
  canvas,
  value,
  onChange,
}: {
  canvas: CanvasRow;
  value: ChatbotForm;
  onChange: (v: ChatbotForm) => void;
}) {
  const set = (change: Partial<ChatbotForm>) => onChange({ ...value, ...change });
  const [leads, setLeads] = useState<SchemaLeadOut[] | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [embed, setEmbed] = useState<EmbedKind>('popup-html');
  const [copied, setCopied] = useState('');
  useEffect(() => {
    api.stats(canvas.id).then(setStats, () => setStats(null));
    api.leads(canvas.id).then(setLeads, () => setLeads([]));
  }, [canvas.id]);
  const provider = FOLLOW_UP_PROVIDERS.find((p) => p.key === value.provider) ?? FOLLOW_UP_PROVIDERS[0];
  const origin = window.location.origin;
  const code = embedCode(embed, origin, canvas.id);
  const page = `${origin}/chatbot/${canvas.id}`;
  const rate = stats && stats.totalFeedback ? Math.round((100 * stats.positiveFeedback) / stats.totalFeedback) : null;
  return (
    <>
      <fieldset className="chatbot-followups">
        <legend>Follow-up prompts</legend>
        <label className="check">
          <input type="checkbox" checked={value.followUp} onChange={(e) => set({ followUp: e.target.checked })} /> Suggest
          next questions after each answer
        </label>
        {value.followUp && (
          <>
            <label>
              Model
              <select aria-label="Follow-up model" value={value.provider} onChange={(e) => set({ provider: e.target.value, credentialId: '' })}>
                {FOLLOW_UP_PROVIDERS.map((p) => (
                  <option key={p.key} value={p.key}>
                    {p.label}
                  </option>
                ))}
              </select>
            </label>
            {provider.credential && (
              <CredentialSelect
                label="Follow-up credential"
                kinds={[provider.credential]}
                value={value.credentialId}
                onChange={(credentialId) => set({ credentialId })}
              />
            )}
            {provider.key !== 'chatLocal' && (
              <label>
                Model name
                <input aria-label="Follow-up model name" value={value.modelName} onChange={(e) => set({ modelName: e.target.value })} />
              </label>
            )}
            {provider.url && (
              <label>
                Server address (empty: the provider's own)
                <input aria-label="Follow-up address" value={value.baseUrl} onChange={(e) => set({ baseUrl: e.target.value })} />
              </label>
            )}
            <label>
              {'Prompt ({history} is the question and the answer)'}
              <textarea rows={3} aria-label="Follow-up prompt" value={value.prompt} onChange={(e) => set({ prompt: e.target.value })} />
            </label>
            <label>
              Temperature
              <input aria-label="Follow-up temperature" value={value.temperature} onChange={(e) => set({ temperature: e.target.value })} />
            </label>
          </>
        )}
      </fieldset>
      <fieldset className="chatbot-post">
        <legend>Post-processing</legend>
        <label className="check">
          <input type="checkbox" checked={value.postProcessing} onChange={(e) => set({ postProcessing: e.target.checked })} />{' '}
          Run a JavaScript function over every answer (in the sandbox; the answer is then sent whole)
        </label>
        {value.postProcessing && (
          <div className="post-code" aria-label="Post-processing function">
            <CodeField value={value.code} onChange={(code) => set({ code })} language="javascript" />
          </div>
        )}
      </fieldset>
      <fieldset className="chatbot-leads">
        <legend>Leads</legend>
        <label className="check">
          <input type="checkbox" checked={value.leads} onChange={(e) => set({ leads: e.target.checked })} /> Ask chat widget
          visitors for their contact details
        </label>
        {value.leads && (
          <>
            <label>
              Form title
              <input aria-label="Leads title" value={value.leadsTitle} onChange={(e) => set({ leadsTitle: e.target.value })} />
            </label>
            <div className="inline-checks">
              <label className="check">
                <input type="checkbox" checked={value.leadsName} onChange={(e) => set({ leadsName: e.target.checked })} /> Name
              </label>
              <label className="check">
                <input type="checkbox" checked={value.leadsEmail} onChange={(e) => set({ leadsEmail: e.target.checked })} /> Email
              </label>
              <label className="check">
                <input type="checkbox" checked={value.leadsPhone} onChange={(e) => set({ leadsPhone: e.target.checked })} /> Phone
              </label>
            </div>
            <label>
              Thank-you message
              <input aria-label="Leads thank-you" value={value.leadsSuccess} onChange={(e) => set({ leadsSuccess: e.target.value })} />
            </label>
          </>
        )}
        <details className="leads-list">
          <summary>Leads left ({leads?.length ?? 0})</summary>
          {leads && leads.length > 0 ? (
            <LeadsTable leads={leads} />
          ) : (
            <p className="hint">No one has left their details yet.</p>
          )}
        </details>
      </fieldset>
      <fieldset className="chatbot-stats">
        <legend>Feedback</legend>
        {stats ? (
          <dl className="stats">
            <dt>Messages</dt>
            <dd data-stat="messages">{stats.totalMessages}</dd>
            <dt>Conversations</dt>
            <dd data-stat="sessions">{stats.totalSessions}</dd>
            <dt>Answers rated</dt>
            <dd data-stat="feedback">{stats.totalFeedback}</dd>
            <dt>Rated good</dt>
            <dd data-stat="positive">
              {stats.positiveFeedback}
              {rate !== null ? ` (${rate}%)` : ''}
            </dd>
          </dl>
        ) : (
          <p className="hint">No statistics yet.</p>
        )}
      </fieldset>
      <label>
        Message for websites that are not allowed (empty: the server's own)
        <input aria-label="Refusal message" value={value.originsError} onChange={(e) => set({ originsError: e.target.value })} />
      </label>
      <fieldset className="chatbot-public">
        <legend>Public chatbot page</legend>
        <label className="check">
          <input type="checkbox" checked={value.isPublic} onChange={(e) => set({ isPublic: e.target.checked })} /> Make this
          canvas's chatbot page public
        </label>
        <p className="hint">
          {value.isPublic ? (
            <a href={page} target="_blank" rel="noreferrer">
              {page}
            </a>
          ) : (
            'Off: the page says the chatbot is not public.'
          )}
        </p>
        <div className="theme-grid">
          <label>
            Title
            <input aria-label="Chatbot title" value={value.title} placeholder={canvas.name} onChange={(e) => set({ title: e.target.value })} />
          </label>
          <label>
            Welcome message
            <input aria-label="Welcome message" value={value.welcomeMessage} onChange={(e) => set({ welcomeMessage: e.target.value })} />
          </label>
          <label>
            Bot avatar (image address)
            <input aria-label="Bot avatar" value={value.botAvatar} onChange={(e) => set({ botAvatar: e.target.value })} />
          </label>
          {(
            [
              ['titleBackgroundColor', 'Title bar'],
              ['titleTextColor', 'Title text'],
              ['backgroundColor', 'Background'],
              ['botBackground', 'Bot messages'],
              ['botText', 'Bot text'],
              ['userBackground', 'Your messages'],
              ['userText', 'Your text'],
            ] as const
          ).map(([key, label]) => (
            <label key={key} className="colour">
              <input type="color" aria-label={label} value={value[key]} onChange={(e) => set({ [key]: e.target.value })} />
              {label}
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset className="chatbot-embed">
        <legend>Embed</legend>
        <div className="embed-tabs" role="tablist">
          {EMBED_KINDS.map((k) => (
            <button
              key={k.key}
              type="button"
              role="tab"
              aria-selected={embed === k.key}
              className={embed === k.key ? 'small' : 'ghost small'}
              onClick={() => setEmbed(k.key)}
            >
              {k.label}
            </button>
          ))}
        </div>
        <pre className="embed-snippet" data-kind={embed}>
          {code}
        </pre>
        <button
          type="button"
          className="ghost"
          onClick={() => navigator.clipboard?.writeText(code).then(() => setCopied(embed), () => setCopied(''))}
        >
          {copied === embed ? 'Copied' : 'Copy the code'}
        </button>
        {embed.endsWith('react') && <p className="hint">React: npm install flowise-embed-react</p>}
      </fieldset>
    </>
  );
}
