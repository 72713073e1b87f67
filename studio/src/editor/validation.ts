// Problems as the user edits: the flow sent to the server's validator 300 ms after its
// structure (nodes' inputs, edges) last changed; moving a node asks nothing.
import type { Edge } from '@xyflow/react';
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api';
import { fromFlow, type StudioNode } from '../graph';
import type { NodeDesc, Problem } from '../types';

export function useValidation(ready: boolean, nodes: StudioNode[], edges: Edge[], byName: Map<string, NodeDesc>) {
  const [problems, setProblems] = useState<Problem[]>([]);
  const flowData = useMemo(() => fromFlow(nodes, edges, byName), [nodes, edges, byName]);
  const structure = useMemo(
    () => JSON.stringify({ n: flowData.nodes.map((n) => [n.id, n.data.inputs]), e: flowData.edges.map((e) => [e.source, e.target, e.targetHandle]) }),
    [flowData],
  );
  useEffect(() => {
    if (!ready) return;
    const timer = setTimeout(() => {
      api.validate(flowData).then((v) => setProblems(v.problems), () => undefined);
    }, 300);
    return () => clearTimeout(timer);
  }, [structure]); // eslint-disable-line react-hooks/exhaustive-deps

  // each node with its own problems, as the canvas draws them
  const shown = useMemo(
    () => nodes.map((n) => ({ ...n, data: { ...n.data, problems: problems.filter((p) => p.nodeId === n.id) } })),
    [nodes, problems],
  );
  const errors = problems.filter((p) => p.level === 'error').length;
  // "Check": the same problems, and whether each model answers with the key it would use
  const deepCheck = async (): Promise<string> => {
    const v = await api.validate(flowData, true);
    setProblems(v.problems);
    const bad = v.problems.filter((p) => p.level === 'error');
    if (!bad.length) return 'Checked: every model answers';
    // the messages are long: in full on the nodes and in the panel, not in the toolbar
    return bad.length === 1 ? 'Checked: 1 problem' : `Checked: ${bad.length} problems`;
  };
  return { flowData, problems, setProblems, shown, errors, deepCheck };
}
