// Automatic layout (dagre) for canvases that come without positions, left to right; a
// node's branches (an agentflow condition's outputs) are stacked in the order of its
// outputs, the first on top, each with what follows it, so branches do not cross.
import dagre from '@dagrejs/dagre';
import type { Edge } from '@xyflow/react';
import type { StudioNode } from './graph';

export const NODE_WIDTH = 260;
export const NODE_HEIGHT = 140;

type Link = Pick<Edge, 'source' | 'target'> & { sourceHandle?: string | null };

/** The position of an output among its node's: `<id>-output-<n>` by n, else by order. */
function handleRank(handle: string | null | undefined, order: number): number {
  const tail = handle?.split('-output-').pop() ?? '';
  return /^\d+$/.test(tail) ? Number(tail) : 1000 + order;
}

/** The nodes reached from `root` only through `root` (its own subtree). */
function ownSubtree(root: string, links: Link[]): Set<string> {
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  for (const l of links) {
    parents.set(l.target, [...(parents.get(l.target) ?? []), l.source]);
    children.set(l.source, [...(children.get(l.source) ?? []), l.target]);
  }
  const own = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const id of own) {
      for (const c of children.get(id) ?? []) {
        if (!own.has(c) && (parents.get(c) ?? []).every((p) => own.has(p))) {
          own.add(c);
          grew = true;
        }
      }
    }
  }
  return own;
}

export function layout(nodes: StudioNode[], edges: Link[]): StudioNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 90 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const y = new Map(nodes.map((n) => [n.id, g.node(n.id).y]));
  // each node's branches in the order of its outputs, top to bottom
  const bySource = new Map<string, Link[]>();
  edges.forEach((e) => bySource.set(e.source, [...(bySource.get(e.source) ?? []), e]));
  for (const out of bySource.values()) {
    if (out.length < 2 || new Set(out.map((e) => e.sourceHandle)).size < 2) continue;
    const targets = [...new Set(out.map((e) => e.target))];
    const ranked = out
      .map((e, i) => ({ target: e.target, rank: handleRank(e.sourceHandle, i) }))
      .sort((a, b) => a.rank - b.rank)
      .map((r) => r.target)
      .filter((t, i, all) => all.indexOf(t) === i);
    const slots = targets.map((t) => y.get(t)!).sort((a, b) => a - b);
    ranked.forEach((target, i) => {
      const dy = slots[i] - y.get(target)!;
      if (!dy) return;
      for (const id of ownSubtree(target, edges)) y.set(id, y.get(id)! + dy);
    });
  }
  return nodes.map((n) => {
    const p = g.node(n.id);
    return { ...n, position: { x: p.x - NODE_WIDTH / 2, y: y.get(n.id)! - NODE_HEIGHT / 2 } };
  });
}
