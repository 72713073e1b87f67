// Problems as the user edits: the flow sent to the server's validator 300 ms after its
// structure (nodes' inputs, edges) last changed; moving a node asks nothing. "Check"
// (the deep check: each model asked with its key) holds its answer until the structure
// changes, whichever answer comes last.
import type { Edge } from '@xyflow/react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api';
import { fromFlow, type StudioNode } from '../graph';
import type { NodeDesc, Problem } from '../types';

export function useValidation(ready: boolean, nodes: StudioNode[], edges: Edge[], byName: Map<string, NodeDesc>) {
  const [edited, setProblems] = useState<Problem[]>([]);
  const [checked, setChecked] = useState<{ structure: string; problems: Problem[] } | null>(null);
  const flowData = useMemo(() => fromFlow(nodes, edges, byName), [nodes, edges, byName]);
  const structure = useMemo(
    () => JSON.stringify({ n: flowData.nodes.map((n) => [n.id, n.data.inputs]), e: flowData.edges.map((e) => [e.source, e.target, e.targetHandle]) }),
    [flowData],
  );
  const current = useRef(structure);
  current.current = structure;
  // the deep check's answer stands for the structure it was asked about
  const problems = checked && checked.structure === structure ? checked.problems : edited;
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
    const asked = structure;
    const v = await api.validate(flowData, true);
    if (current.current !== asked) return 'Checked a version since changed: check again';
    setChecked({ structure: asked, problems: v.problems });
    const bad = v.problems.filter((p) => p.level === 'error');
    if (!bad.length) return 'Checked: every model answers';
    // the messages are long: in full on the nodes and in the panel, not in the toolbar
    return bad.length === 1 ? 'Checked: 1 problem' : `Checked: ${bad.length} problems`;
  };
  return { flowData, problems, setProblems, shown, errors, deepCheck };
}
