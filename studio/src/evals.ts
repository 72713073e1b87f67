// Evaluations: datasets, evaluators, runs (the server's /api/v1/datasets, /evaluators,
// /evaluations), and the pure helpers the pages use (tested in test/evals.test.ts).
import { request } from './api';
import type {
  SchemaCompareRow,
  SchemaCompareSide,
  SchemaDatasetOut,
  SchemaDatasetRowOut,
  SchemaEvaluationOut,
  SchemaEvaluationRowOut,
  SchemaEvaluatorCatalog,
  SchemaEvaluatorOut,
  SchemaRowProblem,
  SchemaVerdictOut,
} from './api-types';

// the server's shapes, generated from its OpenAPI schema (scripts/api-types.sh)
export type DatasetRow = SchemaDatasetRowOut;
export type Dataset = SchemaDatasetOut;
export type RowProblem = SchemaRowProblem;
export type Evaluator = SchemaEvaluatorOut;
export type EvaluatorCatalog = SchemaEvaluatorCatalog;
export type Verdict = SchemaVerdictOut;
export type EvalRow = SchemaEvaluationRowOut;
export type CompareSide = SchemaCompareSide;
export type CompareRow = SchemaCompareRow;
export type EvalStatus = SchemaEvaluationOut['status'];

// a run's summary: the API gives it as an object (`summary` in PROTOCOL.md), read here so
export interface Block {
  rows: number;
  passed: number;
  failed: number;
  errors: number;
  passRate: number | null;
  meanScore: number | null;
  latencyMs: { p50: number | null; p95: number | null; mean: number | null };
  tokens: { p50: number | null; p95: number | null; total: number };
  cost: number | null;
}

export interface Summary extends Block {
  byVersion: ({ version: number } & Block)[];
  byEvaluator: { name: string; passed: number; failed: number; errors: number; passRate: number; meanScore: number | null }[];
  latencyHistogram: { from: number; to: number; count: number }[];
}

export type Evaluation = Omit<SchemaEvaluationOut, 'summary'> & { summary?: Summary | null };

export interface Comparison {
  a: Evaluation;
  b: Evaluation;
  rows: CompareRow[];
}

export const running = (e: Pick<Evaluation, 'status'>): boolean => e.status === 'pending' || e.status === 'running';

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${Math.round(value * 1000) / 10}%`;
}

export function progress(e: Pick<Evaluation, 'done' | 'total'>): number {
  return e.total ? Math.min(1, e.done / e.total) : 0;
}

// One evaluator's short description, as its card and the run's header show it
export function describe(e: Evaluator): string {
  switch (e.type) {
    case 'text':
      return `${e.operator}${e.value ? ` ${e.value}` : ' the expected answer'}`;
    case 'json':
      return e.operator === 'MatchesSchema' ? 'matches a JSON Schema' : (e.operator ?? 'JSON');
    case 'numeric':
      return `${e.measure} ${e.operator} ${e.value}`;
    case 'similarity':
      return `similar to the expected answer (≥ ${e.value ?? '0.8'})`;
    case 'llm':
      return `judged by ${e.model?.name ?? 'the embedded model'}${e.rubric ? `: ${e.rubric}` : ''}`;
  }
}

// The evaluator a form describes, ready to post; the fields its type does not use are left out
export function evaluatorBody(form: Evaluator): Evaluator {
  const out: Evaluator = { name: form.name.trim(), type: form.type };
  if (form.type === 'text' || form.type === 'json' || form.type === 'numeric') out.operator = form.operator;
  if (form.type === 'text' || form.type === 'numeric' || form.type === 'similarity' || form.operator === 'MatchesSchema')
    if (form.value) out.value = form.value;
  if (form.type === 'numeric') out.measure = form.measure;
  if (form.type === 'llm') {
    if (form.prompt) out.prompt = form.prompt;
    if (form.rubric) out.rubric = form.rubric;
    if (form.model?.name) out.model = form.model;
  }
  return out;
}

// The bars of a chart: each value's height as a share of the largest (0 when all are 0)
export function bars<T>(items: T[], value: (item: T) => number): { item: T; share: number }[] {
  const top = Math.max(0, ...items.map(value));
  return items.map((item) => ({ item, share: top > 0 ? value(item) / top : 0 }));
}

// A file's format by its name, as the import route takes it
export function fileFormat(name: string): 'csv' | 'jsonl' | 'json' {
  const lower = name.toLowerCase();
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.json')) return 'json';
  return 'csv';
}

const call = request;

const q = encodeURIComponent;

export const evalApi = {
  datasets: () => call<Dataset[]>('GET', '/api/v1/datasets'),
  dataset: (id: string) => call<Dataset>('GET', `/api/v1/datasets/set/${q(id)}`),
  createDataset: (name: string, description = '') => call<Dataset>('POST', '/api/v1/datasets/set', { name, description }),
  updateDataset: (id: string, changes: { name?: string; description?: string }) =>
    call<Dataset>('PUT', `/api/v1/datasets/set/${q(id)}`, changes),
  deleteDataset: (id: string) => call<{ deletedCount: number }>('DELETE', `/api/v1/datasets/set/${q(id)}`),
  importRows: (id: string, content: string, format: string, replace = false) =>
    call<{ added: number; problems: RowProblem[] }>('POST', `/api/v1/datasets/set/${q(id)}/import`, { content, format, replace }),
  addRow: (datasetId: string, input: string, output: string) =>
    call<DatasetRow>('POST', '/api/v1/datasets/rows', { datasetId, input, output: output || null }),
  updateRow: (id: string, input: string, output: string) =>
    call<DatasetRow>('PUT', `/api/v1/datasets/rows/${q(id)}`, { input, output: output || null }),
  deleteRows: (ids: string[]) => call<{ deletedCount: number }>('PATCH', '/api/v1/datasets/rows', { ids }),
  evaluators: () => call<Evaluator[]>('GET', '/api/v1/evaluators'),
  catalog: () => call<EvaluatorCatalog>('GET', '/api/v1/evaluators/catalog'),
  createEvaluator: (e: Evaluator) => call<Evaluator>('POST', '/api/v1/evaluators', evaluatorBody(e)),
  deleteEvaluator: (id: string) => call<{ deletedCount: number }>('DELETE', `/api/v1/evaluators/${q(id)}`),
  evaluations: () => call<Evaluation[]>('GET', '/api/v1/evaluations'),
  evaluation: (id: string) => call<Evaluation>('GET', `/api/v1/evaluations/${q(id)}`),
  startEvaluation: (body: { canvasId: string; datasetId: string; versions: number[]; evaluators: string[]; concurrency: number; name?: string }) =>
    call<Evaluation>('POST', '/api/v1/evaluations', body),
  abortEvaluation: (id: string) => call<Evaluation>('POST', `/api/v1/evaluations/${q(id)}/abort`),
  deleteEvaluation: (id: string) => call<{ deletedCount: number }>('DELETE', `/api/v1/evaluations/${q(id)}`),
  runAgain: (id: string, latest: boolean) => call<Evaluation>('POST', `/api/v1/evaluations/run-again/${q(id)}`, { latest }),
  outdated: (id: string) => call<{ outdated: boolean; changes: string[] }>('GET', `/api/v1/evaluations/is-outdated/${q(id)}`),
  compare: (a: string, b: string, aVersion?: number, bVersion?: number) => {
    const params = new URLSearchParams({ a, b });
    if (aVersion !== undefined) params.set('aVersion', String(aVersion));
    if (bVersion !== undefined) params.set('bVersion', String(bVersion));
    return call<Comparison>('GET', `/api/v1/evaluations/compare?${params}`);
  },
};
