// A canvas's analytic providers in Flowise's shape (settings.analytic: {langFuse:
// {credentialId, status}, langSmith: {credentialId, projectName, status}, ...}); the
// server sends the canvas's traces to each provider that is on, over its OTLP endpoint.

import { parsed } from './chatbot';

type Obj = Record<string, any>;

export interface AnalyticProvider {
  key: string;
  label: string;
  credential: string; // the credential kind holding its key
  project: string | null; // its project field, if it has one
}

export const ANALYTIC_PROVIDERS: AnalyticProvider[] = [
  { key: 'langFuse', label: 'Langfuse', credential: 'langfuseApi', project: null },
  { key: 'langSmith', label: 'LangSmith', credential: 'langsmithApi', project: 'projectName' },
  { key: 'phoenix', label: 'Arize Phoenix', credential: 'phoenixApi', project: 'projectName' },
  { key: 'arize', label: 'Arize', credential: 'arizeApi', project: 'projectName' },
  { key: 'opik', label: 'Opik', credential: 'opikApi', project: 'opikProjectName' },
  { key: 'lunary', label: 'Lunary', credential: 'lunaryApi', project: null },
  { key: 'langWatch', label: 'LangWatch', credential: 'langwatchApi', project: null },
];

export interface AnalyticEntry {
  on: boolean;
  credentialId: string;
  project: string;
}

export type AnalyticForm = Record<string, AnalyticEntry>;

export function analyticForm(settings: Obj): AnalyticForm {
  const cfg = parsed(settings.analytic);
  const form: AnalyticForm = {};
  for (const p of ANALYTIC_PROVIDERS) {
    const block = parsed(cfg[p.key]);
    form[p.key] = {
      on: block.status === true || block.status === 'true',
      credentialId: String(block.credentialId ?? ''),
      project: p.project ? String(block[p.project] ?? '') : '',
    };
  }
  return form;
}

/** The settings with the form in them: a provider that was never set up and is off is
 * left out; every other key (and a provider canvasflow does not send to) is kept. */
export function withAnalytic(settings: Obj, form: AnalyticForm): Obj {
  const cfg: Obj = { ...parsed(settings.analytic) };
  for (const p of ANALYTIC_PROVIDERS) {
    const entry = form[p.key];
    if (!entry) continue;
    if (!entry.on && !entry.credentialId && !cfg[p.key]) continue;
    const block: Obj = { ...parsed(cfg[p.key]), status: entry.on };
    if (entry.credentialId) block.credentialId = entry.credentialId;
    else delete block.credentialId;
    if (p.project) {
      if (entry.project.trim()) block[p.project] = entry.project.trim();
      else delete block[p.project];
    }
    cfg[p.key] = block;
  }
  const out: Obj = { ...settings };
  if (Object.keys(cfg).length) out.analytic = cfg;
  else delete out.analytic;
  return out;
}
