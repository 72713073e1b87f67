// Automatic layout (dagre) for canvases that come without positions, left to right.
import dagre from '@dagrejs/dagre';
import type { Edge } from '@xyflow/react';
import type { StudioNode } from './graph';

export const NODE_WIDTH = 260;
export const NODE_HEIGHT = 140;

export function layout(nodes: StudioNode[], edges: Edge[]): StudioNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 90 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    return { ...n, position: { x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 } };
  });
}
