// Copy and paste of the selected nodes (and the edges between them): pasted with fresh
// ids, 40 px down and right, selected.
import type { Edge } from '@xyflow/react';
import { useRef } from 'react';
import { nextId, type StudioNode } from '../graph';
import { clean, type Snapshot } from './history';

// the pasted copy of a clipboard: new ids for nodes not to clash with ``taken``
export function pasted(clip: Snapshot, taken: string[]): Snapshot {
  const rename = new Map<string, string>();
  for (const n of clip.nodes) rename.set(n.id, nextId(n.data.name, [...taken, ...rename.values()]));
  const nodes = clip.nodes.map((n) => ({
    ...n,
    id: rename.get(n.id)!,
    selected: true,
    position: { x: n.position.x + 40, y: n.position.y + 40 },
  }));
  const swap = (h: string | null | undefined, oldId: string, newId: string) => (h ? h.replace(`${oldId}-`, `${newId}-`) : h);
  const edges = clip.edges.map((e) => {
    const s = rename.get(e.source)!;
    const t = rename.get(e.target)!;
    return { ...e, id: `${s}-${t}-${e.id}`, source: s, target: t, sourceHandle: swap(e.sourceHandle, e.source, s), targetHandle: swap(e.targetHandle, e.target, t) };
  });
  return { nodes, edges };
}

export function useClipboard(
  nodes: StudioNode[],
  edges: Edge[],
  setNodes: (update: (all: StudioNode[]) => StudioNode[]) => void,
  setEdges: (update: (all: Edge[]) => Edge[]) => void,
  remember: () => void,
  say: (notice: string) => void,
) {
  const clipboard = useRef<Snapshot | null>(null);
  const copy = () => {
    const chosen = nodes.filter((n) => n.selected);
    const ids = new Set(chosen.map((n) => n.id));
    clipboard.current = { nodes: clean(chosen), edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
    if (chosen.length) say(`Copied ${chosen.length} node${chosen.length > 1 ? 's' : ''}.`);
  };
  const paste = () => {
    const clip = clipboard.current;
    if (!clip?.nodes.length) return;
    remember();
    const copyOf = pasted(clip, nodes.map((n) => n.id));
    setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), ...copyOf.nodes]);
    setEdges((all) => [...all, ...copyOf.edges]);
  };
  return { copy, paste };
}
