// Connections as the user draws them: refused with a reason (shown in the toolbar),
// or added: an agentflow edge from a branch to a node; a chatflow edge into an input,
// replacing the old one unless the input takes a list.
import type { Connection, Edge } from '@xyflow/react';
import { canConnect, canConnectAgentflow, inputOfHandle, isAgentflowDesc, type StudioNode } from '../graph';
import type { NodeDesc } from '../types';

export type Verdict = { ok: true } | { ok: false; reason: string };

export function verdictOf(c: Connection | Edge, nodes: StudioNode[], byName: Map<string, NodeDesc>): Verdict {
  const source = nodes.find((n) => n.id === c.source);
  const target = nodes.find((n) => n.id === c.target);
  const sdesc = source && byName.get(source.data.name);
  const tdesc = target && byName.get(target.data.name);
  if (!sdesc || !tdesc || !c.target) return { ok: false, reason: 'unknown node' };
  if (c.source === c.target) return { ok: false, reason: 'a node cannot feed itself' };
  if (isAgentflowDesc(sdesc) || isAgentflowDesc(tdesc)) return canConnectAgentflow(sdesc, tdesc, c.source, c.target);
  return canConnect(sdesc, tdesc, inputOfHandle(c.targetHandle, c.target));
}

// the edges once an accepted connection is added
export function connected(c: Connection, all: Edge[], nodes: StudioNode[], byName: Map<string, NodeDesc>): Edge[] {
  const target = nodes.find((n) => n.id === c.target)!;
  if (isAgentflowDesc(byName.get(target.data.name))) {
    const edgeId = `${c.source}-${c.sourceHandle}-${c.target}`;
    return [...all.filter((e) => e.id !== edgeId), { id: edgeId, source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.target }];
  }
  const input = byName.get(target.data.name)!.inputs.find((i) => i.name === inputOfHandle(c.targetHandle, c.target));
  const kept = input?.list ? all : all.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle));
  return [...kept, { id: `${c.source}-${c.target}-${input?.name}`, source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle }];
}
