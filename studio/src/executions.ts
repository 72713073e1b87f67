// Executions: the record of every run (its trigger, status, timings, tokens, and the
// trace of its nodes), as the server's /api/v1/executions routes give them.
import type {
  SchemaExecutionList,
  SchemaExecutionOut,
  SchemaScheduleStatus,
  SchemaTickList,
  SchemaTickOut,
  SchemaTraceEntry,
} from './api-types';
import type { RunStatus } from './types';

// the server's shapes, generated from its OpenAPI schema (scripts/api-types.sh)
export type Execution = SchemaExecutionOut;
export type ExecutionStatus = Execution['status'];
export type TraceEntry = SchemaTraceEntry;
export type ExecutionPage = SchemaExecutionList;

export interface ExecutionQuery {
  canvasId?: string;
  status?: string;
  trigger?: string;
  startDate?: string;
  endDate?: string;
  page?: number;
  limit?: number;
}

export type ScheduleStatus = SchemaScheduleStatus;
export type Tick = SchemaTickOut;
export type TickPage = SchemaTickList;

export const STATUSES: ExecutionStatus[] = ['running', 'completed', 'error', 'aborted', 'interrupted', 'paused'];
export const TRIGGERS = ['prediction', 'studio', 'chat', 'openai', 'mcp', 'webhook', 'schedule', 'evaluation'];

/** A query as the URL's search part (empty values left out). */
export function queryString(q: ExecutionQuery): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(q)) {
    if (value !== undefined && value !== '' && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** How many pages a total makes. */
export function pages(total: number, limit: number): number {
  return Math.max(1, Math.ceil(total / Math.max(1, limit)));
}

/** A trace entry's status as a node on the canvas shows it. */
export function runStatus(status: string): RunStatus {
  if (status === 'error') return 'error';
  if (status === 'running') return 'running';
  if (status === 'paused') return 'paused';
  return 'done';
}

/** Each node's entry of a trace, by node id. */
export function byNode(trace: TraceEntry[] | null | undefined): Map<string, TraceEntry> {
  return new Map((trace ?? []).map((e) => [e.nodeId, e]));
}

/** The node to show first: the one that failed, else the last one. */
export function firstShown(trace: TraceEntry[] | null | undefined): string | null {
  const all = trace ?? [];
  return (all.find((e) => e.status === 'error') ?? all[all.length - 1])?.nodeId ?? null;
}

/** A duration in words: 850 ms, 2.4 s, 3 min 5 s. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A value as the side panel shows it: text as it is, the rest as indented JSON. */
export function shown(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** The link a shared execution is read at. */
export function shareLink(origin: string, id: string): string {
  return `${origin}/studio/shared/${encodeURIComponent(id)}`;
}
