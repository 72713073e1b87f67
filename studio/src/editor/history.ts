// Undo and redo: snapshots of the nodes (without run lights or problems) and edges,
// taken before each change, 100 kept.
import type { Edge } from '@xyflow/react';
import { useCallback, useRef } from 'react';
import type { StudioNode } from '../graph';

export interface Snapshot {
  nodes: StudioNode[];
  edges: Edge[];
}

const LIMIT = 100;

// a node as it is saved: what the run lights, problems and selection add is left out
export const clean = (nodes: StudioNode[]): StudioNode[] =>
  nodes.map((n) => ({ ...n, selected: false, data: { name: n.data.name, label: n.data.label, inputs: n.data.inputs } }));

export function useUndoHistory(
  nodes: StudioNode[],
  edges: Edge[],
  setNodes: (nodes: StudioNode[]) => void,
  setEdges: (edges: Edge[]) => void,
  changed: () => void,
) {
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);

  const remember = useCallback(() => {
    past.current.push({ nodes: clean(nodes), edges });
    if (past.current.length > LIMIT) past.current.shift();
    future.current = [];
    changed();
  }, [nodes, edges, changed]);

  const restore = (from: Snapshot[], to: Snapshot[]) => {
    const snap = from.pop();
    if (!snap) return;
    to.push({ nodes: clean(nodes), edges });
    setNodes(snap.nodes);
    setEdges(snap.edges);
    changed();
  };
  return {
    remember,
    undo: () => restore(past.current, future.current),
    redo: () => restore(future.current, past.current),
  };
}
