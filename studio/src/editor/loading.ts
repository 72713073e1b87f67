// The canvas as stored: read once per id (and again after a restore), its flow laid out
// when it has no positions, the view fitted no further out than text stays readable.
import type { Edge, ReactFlowInstance } from '@xyflow/react';
import { useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import { toFlow, type StudioNode } from '../graph';
import { layout } from '../layout';
import type { CanvasRow, NodeDesc, Problem } from '../types';

// the smallest zoom at which a node's label and anchors stay readable
export const READABLE_ZOOM = 0.6;

export function useCanvas(
  id: string,
  byName: Map<string, NodeDesc>,
  flow: Pick<ReactFlowInstance<StudioNode, Edge>, 'fitView'>,
  loaded: (nodes: StudioNode[], edges: Edge[], problems: Problem[]) => void,
  say: (notice: string) => void,
) {
  const [canvas, setCanvas] = useState<CanvasRow | null>(null);
  const [name, setName] = useState('');
  const load = () =>
    api.canvas(id).then(
      (row) => {
        setCanvas(row);
        setName(row.name);
        const parsed = toFlow(JSON.parse(row.flowData || '{"nodes":[],"edges":[]}'), byName);
        const placed = parsed.needsLayout ? layout(parsed.nodes, parsed.edges) : parsed.nodes;
        loaded(placed, parsed.edges, row.problems ?? []);
        if (placed.length) setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, minZoom: READABLE_ZOOM }), 50);
      },
      (e: ApiError) => say(e.message),
    );
  useEffect(() => {
    load();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps
  return { canvas, setCanvas, name, setName, load };
}
