// What an agentflow node's text can name (Flowise's {{ }} variables): the question and
// the chat, the Start node's form inputs, the flow state's keys, and the outputs of the
// nodes that run before it. The engine reads the same names (PROTOCOL.md, Agentflows).
import type { Edge } from '@xyflow/react';
import type { StudioNode } from './graph';

export interface Variable {
  value: string; // what is written between {{ and }}
  label: string;
  group: string;
}

const CHAT: Variable[] = [
  { value: 'question', label: 'The question', group: 'Chat' },
  { value: 'chat_history', label: 'The conversation so far', group: 'Chat' },
  { value: 'current_date_time', label: 'The date and time now', group: 'Chat' },
  { value: 'runtime_messages_length', label: 'Messages in this run', group: 'Chat' },
  { value: 'loop_count', label: 'Loops run so far', group: 'Chat' },
  { value: '$flow.chatId', label: 'The chat id', group: 'Chat' },
  { value: '$flow.sessionId', label: 'The session id', group: 'Chat' },
];

const rows = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? (value.filter((r) => r && typeof r === 'object') as Record<string, unknown>[]) : [];

/** The nodes a node can be reached from, nearest first (its ancestors along edges). */
export function before(nodeId: string, edges: Pick<Edge, 'source' | 'target'>[]): string[] {
  const parents = new Map<string, string[]>();
  for (const e of edges) parents.set(e.target, [...(parents.get(e.target) ?? []), e.source]);
  const seen = new Set<string>([nodeId]);
  const out: string[] = [];
  let frontier = [nodeId];
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const p of parents.get(id) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
          out.push(p);
          next.push(p);
        }
      }
    }
    frontier = next;
  }
  return out;
}

export function variablesFor(nodeId: string, nodes: StudioNode[], edges: Pick<Edge, 'source' | 'target'>[]): Variable[] {
  const out: Variable[] = [...CHAT];
  const start = nodes.find((n) => n.data.name === 'startAgentflow');
  const inputs = (start?.data.inputs ?? {}) as Record<string, unknown>;
  if (inputs.startInputType === 'formInput') {
    for (const f of rows(inputs.formInputTypes)) {
      if (f.name) out.push({ value: `$form.${f.name}`, label: String(f.label || f.name), group: 'Form' });
    }
  }
  const keys = new Set<string>();
  for (const r of rows(inputs.startState)) if (r.key) keys.add(String(r.key));
  for (const n of nodes) {
    for (const [name, value] of Object.entries(n.data.inputs ?? {})) {
      if (name.endsWith('UpdateState')) for (const r of rows(value)) if (r.key) keys.add(String(r.key));
    }
  }
  for (const key of keys) out.push({ value: `$flow.state.${key}`, label: key, group: 'Flow state' });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const id of before(nodeId, edges)) {
    const n = byId.get(id);
    if (!n || n.data.name === 'startAgentflow' || n.data.name === 'stickyNoteAgentflow') continue;
    out.push({ value: id, label: `${n.data.label ?? id} (its output)`, group: 'Earlier nodes' });
  }
  return out;
}

/** The text with `{{ value }}` put where the cursor was (or at the end). */
export function insertVariable(text: string, value: string, at?: number | null, end?: number | null): { text: string; cursor: number } {
  const token = `{{ ${value} }}`;
  const from = at ?? text.length;
  const to = end ?? from;
  const out = text.slice(0, from) + token + text.slice(to);
  return { text: out, cursor: from + token.length };
}
