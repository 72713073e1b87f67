import { useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import type { ScheduleStatus, Tick } from '../executions';
import type { CanvasRow } from '../types';

export interface Triggers {
  webhook: { enabled: boolean; method: string; responseMode: string; input: string };
  schedule: { cron: string; timezone: string; input: string; misfire: string };
}

export function triggersOf(settings: Record<string, any>): Triggers {
  const w = settings.webhook ?? {};
  const s = settings.schedule ?? {};
  return {
    webhook: {
      enabled: Boolean(w.enabled),
      method: w.method ?? 'POST',
      responseMode: w.responseMode ?? 'sync',
      input: w.input ?? '',
    },
    schedule: { cron: s.cron ?? '', timezone: s.timezone ?? 'UTC', input: s.input ?? '', misfire: s.misfire ?? 'once' },
  };
}

/** The settings with the triggers as the form has them (a chatflow's; an agentflow's are
 *  on its Start node, only the schedule's on/off lives here). */
export function withTriggers(settings: Record<string, unknown>, t: Triggers, agentflow: boolean): Record<string, unknown> {
  const out = { ...settings };
  const oldSchedule = (settings.schedule ?? {}) as Record<string, unknown>;
  if (agentflow) return out;
  out.webhook = { ...((settings.webhook ?? {}) as Record<string, unknown>), ...t.webhook };
  if (t.schedule.cron.trim()) out.schedule = { ...oldSchedule, ...t.schedule, cron: t.schedule.cron.trim() };
  else if (oldSchedule.enabled === undefined) delete out.schedule;
  else out.schedule = { enabled: oldSchedule.enabled };
  return out;
}

// Runs nobody types: the canvas's webhook (its URL, secret, how it answers) and its
// schedule (cron, time zone, input; on or off; the last ticks).
export function TriggerSettings({
  canvas,
  value,
  onChange,
}: {
  canvas: CanvasRow;
  value: Triggers;
  onChange: (t: Triggers) => void;
}) {
  const agentflow = canvas.flowData.includes('"startAgentflow"');
  const [secret, setSecret] = useState('');
  const [hasSecret, setHasSecret] = useState(Boolean((canvas.settings as any).webhook?.secretConfigured));
  const [status, setStatus] = useState<ScheduleStatus | null>(null);
  const [ticks, setTicks] = useState<Tick[]>([]);
  const [notice, setNotice] = useState('');
  const url = `${location.origin}/api/v1/webhook/${canvas.id}`;
  useEffect(() => {
    api.scheduleStatus(canvas.id).then(setStatus, () => setStatus(null));
    api.scheduleLogs(canvas.id).then((p) => setTicks(p.data), () => setTicks([]));
  }, [canvas]);
  const w = value.webhook;
  const s = value.schedule;
  const setW = (c: Partial<Triggers['webhook']>) => onChange({ ...value, webhook: { ...w, ...c } });
  const setS = (c: Partial<Triggers['schedule']>) => onChange({ ...value, schedule: { ...s, ...c } });

  return (
    <fieldset className="triggers">
      <legend>Webhook and schedule</legend>
      <h3>Webhook</h3>
      {agentflow ? (
        <p className="hint">An agentflow takes webhooks when its Start node's input type is "Webhook Trigger".</p>
      ) : (
        <>
          <label className="check">
            <input type="checkbox" checked={w.enabled} onChange={(e) => setW({ enabled: e.target.checked })} /> Run this
            canvas when a webhook arrives
          </label>
          <div className="row">
            <label>
              Method
              <select value={w.method} onChange={(e) => setW({ method: e.target.value })}>
                {['POST', 'PUT', 'PATCH', 'GET', 'DELETE'].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <label>
              Answer
              <select value={w.responseMode} onChange={(e) => setW({ responseMode: e.target.value })}>
                <option value="sync">with the run's answer (waits)</option>
                <option value="async">at once: 202 and the execution id</option>
                <option value="stream">as a stream of events</option>
              </select>
            </label>
          </div>
          <label>
            Question (use {'{{ $webhook.body.field }}'}, $webhook.query, $webhook.headers; empty: the body's "question")
            <textarea rows={2} value={w.input} onChange={(e) => setW({ input: e.target.value })} />
          </label>
        </>
      )}
      <p className="hint">
        URL: <code className="webhook-url">{url}</code>
      </p>
      <div className="row">
        <button
          type="button"
          className="ghost"
          onClick={async () => {
            const made = await api.makeWebhookSecret(canvas.id);
            setSecret(made.webhookSecret);
            setHasSecret(true);
          }}
        >
          {hasSecret ? 'Rotate the signing secret' : 'Make a signing secret'}
        </button>
        {hasSecret && (
          <button
            type="button"
            className="ghost"
            onClick={async () => {
              await api.removeWebhookSecret(canvas.id);
              setHasSecret(false);
              setSecret('');
            }}
          >
            Remove the secret
          </button>
        )}
      </div>
      {secret && (
        <p className="fresh-key">
          Give it to the sender now, it is shown once (Standard Webhooks): <code>{secret}</code>
        </p>
      )}
      {hasSecret && !secret && <p className="hint">Requests must be signed (webhook-id, webhook-timestamp, webhook-signature).</p>}

      <h3>Schedule</h3>
      {agentflow ? (
        <p className="hint">An agentflow runs on a schedule when its Start node's input type is "Schedule Input".</p>
      ) : (
        <>
          <div className="row">
            <label>
              Cron (5 fields, or 6 with seconds first)
              <input placeholder="0 9 * * 1-5" value={s.cron} onChange={(e) => setS({ cron: e.target.value })} />
            </label>
            <label>
              Time zone
              <input value={s.timezone} onChange={(e) => setS({ timezone: e.target.value })} />
            </label>
            <label>
              A tick missed while down
              <select value={s.misfire} onChange={(e) => setS({ misfire: e.target.value })}>
                <option value="once">runs once</option>
                <option value="skip">is skipped</option>
              </select>
            </label>
          </div>
          <label>
            Question asked on each tick
            <textarea rows={2} value={s.input} onChange={(e) => setS({ input: e.target.value })} />
          </label>
        </>
      )}
      {status?.canEnable && (
        <div className="row schedule-state">
          <label className="check">
            <input
              type="checkbox"
              checked={status.enabled}
              onChange={async (e) => {
                try {
                  setStatus(await api.setScheduleEnabled(canvas.id, e.target.checked));
                } catch (err) {
                  setNotice(err instanceof ApiError ? err.message : String(err));
                }
              }}
            />{' '}
            Schedule on
          </label>
          {status.enabled && status.record?.nextRunAt && (
            <span className="hint">next run {new Date(status.record.nextRunAt).toLocaleString()}</span>
          )}
        </div>
      )}
      {status && !status.canEnable && status.reason && !status.reason.startsWith('the canvas has no schedule') && (
        <p className="notice error">{status.reason}</p>
      )}
      {ticks.length > 0 && (
        <ul className="ticks">
          {ticks.map((t) => (
            <li key={t.id} data-status={t.status}>
              {new Date(t.scheduledAt).toLocaleString()} · {t.status}
              {t.executionId && (
                <>
                  {' · '}
                  <a href={`/studio/executions/${t.executionId}`}>run</a>
                </>
              )}
              {t.error ? ` · ${t.error}` : ''}
            </li>
          ))}
        </ul>
      )}
      {notice && <p className="notice">{notice}</p>}
    </fieldset>
  );
}
