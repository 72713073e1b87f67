// Pure logic of the editor: which anchors may connect, and the two-way mapping between
// React Flow's nodes and edges and Flowise's flowData (what the server stores).
import type { Edge, Node } from '@xyflow/react';
import type { FlowData, FlowEdge, FlowNode, InputDesc, NodeDesc, StudioNodeData } from './types';

export type StudioNode = Node<StudioNodeData, 'canvasNode'>;

export const REF = /^\{\{\s*([A-Za-z0-9_-]+)\.data\.instance\s*\}\}$/;

export const isAnchor = (type: string): boolean => /^[A-Z]/.test(type);

export const anchorsOf = (desc: NodeDesc): InputDesc[] => desc.inputs.filter((i) => isAnchor(i.type));
export const paramsOf = (desc: NodeDesc): InputDesc[] => desc.inputs.filter((i) => !isAnchor(i.type));

export const ref = (nodeId: string): string => `{{${nodeId}.data.instance}}`;

export function targetHandleId(nodeId: string, input: InputDesc): string {
  return `${nodeId}-input-${input.name}-${input.type}`;
}

export function sourceHandleId(nodeId: string, desc: NodeDesc): string {
  return `${nodeId}-output-${desc.name}-${desc.baseClasses.join('|')}`;
}

/** The input a target handle stands for: `<node id>-input-<name>-<type>`. */
export function inputOfHandle(handle: string | null | undefined, nodeId: string): string | null {
  if (!handle) return null;
  const prefix = `${nodeId}-input-`;
  if (!handle.startsWith(prefix)) return null;
  const rest = handle.slice(prefix.length);
  const dash = rest.lastIndexOf('-');
  return dash > 0 ? rest.slice(0, dash) : rest;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/** Flowise's rule: an anchor accepts a node whose base classes include the anchor's type. */
export function canConnect(source: NodeDesc, target: NodeDesc, inputName: string | null): Verdict {
  const input = target.inputs.find((i) => i.name === inputName && isAnchor(i.type));
  if (!input) return { ok: false, reason: `${target.label} has no input ${inputName ?? ''}` };
  if (source.name === target.name && source === target) {
    return { ok: false, reason: 'a node cannot feed itself' };
  }
  if (!source.baseClasses.includes(input.type)) {
    const gives = source.baseClasses.slice(0, 3).join(', ') || source.label;
    return {
      ok: false,
      reason: `${target.label}'s ${input.label} needs a ${input.type}; ${source.label} gives ${gives}`,
    };
  }
  return { ok: true };
}

// -- Agentflow v2: nodes joined by edges from an output (a branch) to a node ---------

export const isAgentflowDesc = (desc: NodeDesc | undefined): boolean => !!desc?.agentflow;

export interface Branch {
  handle: string;
  label: string;
}

const rows = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((r): r is Record<string, unknown> => !!r && typeof r === 'object') : [];

/** The outputs of an agentflow node: one per condition (and else), per scenario,
 *  proceed and reject, none for a loop (it jumps back), one for the rest. */
export function branchesOf(name: string, inputs: Record<string, unknown>): Branch[] {
  switch (name) {
    case 'conditionAgentflow': {
      const n = Math.max(rows(inputs.conditions).length, 1);
      return [...Array.from({ length: n }, (_, i) => ({ handle: String(i), label: `Condition ${i}` })), { handle: String(n), label: 'Else' }];
    }
    case 'conditionAgentAgentflow': {
      const scenarios = rows(inputs.conditionAgentScenarios);
      return (scenarios.length ? scenarios : [{}, {}]).map((r, i) => ({
        handle: String(i),
        label: String(r.scenario || `Scenario ${i}`),
      }));
    }
    case 'humanInputAgentflow':
      return [
        { handle: '0', label: 'Proceed' },
        { handle: '1', label: 'Reject' },
      ];
    case 'loopAgentflow':
      return [];
    default:
      return [{ handle: name, label: '' }];
  }
}

export const branchHandleId = (nodeId: string, handle: string): string => `${nodeId}-output-${handle}`;

/** An agentflow edge may join any node's output to any other node but the Start. */
export function canConnectAgentflow(source: NodeDesc, target: NodeDesc, sourceId: string, targetId: string): Verdict {
  if (sourceId === targetId) return { ok: false, reason: 'a node cannot feed itself' };
  if (target.name === 'startAgentflow') return { ok: false, reason: 'nothing runs before Start' };
  if (!isAgentflowDesc(source) || !isAgentflowDesc(target)) {
    return { ok: false, reason: 'agentflow nodes connect only to agentflow nodes' };
  }
  return { ok: true };
}

/** Rich text of Flowise's editor (`<p>`, mention spans) as the plain text the server
 *  reads the same way. */
export function richToPlain(value: string): string {
  if (!value.includes('<')) return value;
  const text = value.replace(/<br\s*\/?>/gi, '\n').replace(/<li[^>]*>/gi, '\n- ');
  return text
    .split(/<\/?(?:p|div|h[1-6]|ul|ol|pre|blockquote)(?:\s[^>]*)?>/i)
    .map((part) =>
      part
        .replace(/<[^>]+>/g, '')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&nbsp;/g, ' ')
        .replace(/&amp;/g, '&')
        .trim(),
    )
    .filter(Boolean)
    .join('\n\n');
}

/** A fresh node id in Flowise's style: `<name>_<n>`. */
export function nextId(name: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 0; ; n += 1) {
    const id = `${name}_${n}`;
    if (!used.has(id)) return id;
  }
}

/** Default values of a node's parameters, as a new node starts with. */
export function defaultInputs(desc: NodeDesc): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const input of paramsOf(desc)) {
    if (input.default !== undefined) out[input.name] = input.default;
  }
  return out;
}

export function newNode(desc: NodeDesc, id: string, position: { x: number; y: number }): StudioNode {
  return {
    id,
    type: 'canvasNode',
    position,
    data: { name: desc.name, label: desc.label, inputs: defaultInputs(desc) },
  };
}

function refsIn(value: unknown): string[] {
  if (typeof value === 'string') {
    const m = REF.exec(value);
    return m ? [m[1]] : [];
  }
  if (Array.isArray(value)) return value.flatMap(refsIn);
  return [];
}

/** flowData → React Flow. Edges without handles (hand-written JSON) get them from the
 *  references in the target's inputs. `needsLayout` when nodes have no positions. */
export function toFlow(
  flow: FlowData,
  catalogue: Map<string, NodeDesc>,
): { nodes: StudioNode[]; edges: Edge[]; needsLayout: boolean } {
  let needsLayout = false;
  const nodes: StudioNode[] = [];
  for (const raw of flow.nodes ?? []) {
    const name = raw.data?.name;
    if (!name || name === 'stickyNote' || name === 'stickyNoteAgentflow') continue;
    const desc = catalogue.get(name);
    const inputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw.data.inputs ?? {})) {
      const input = desc?.inputs.find((i) => i.name === key);
      if (input && isAnchor(input.type)) continue; // anchors live in edges
      if (refsIn(value).length && !input) continue;
      inputs[key] = value;
    }
    if (raw.data.credential && inputs.credential === undefined) inputs.credential = raw.data.credential;
    if (!raw.position) needsLayout = true;
    const parent = typeof raw.parentNode === 'string' ? raw.parentNode : undefined;
    const agentflow = isAgentflowDesc(desc) || name.endsWith('Agentflow');
    nodes.push({
      id: raw.id,
      type: 'canvasNode',
      position: raw.position ?? { x: 0, y: 0 },
      data: { name, label: (agentflow ? raw.data.label : undefined) ?? desc?.label ?? raw.data.label ?? name, inputs },
      ...(parent ? { parentId: parent } : {}),
      ...(name === 'iterationAgentflow' && raw.width && raw.height
        ? { style: { width: raw.width, height: raw.height } }
        : {}),
    });
  }
  // a parent comes before the nodes inside it (React Flow's rule)
  nodes.sort((a, b) => (a.parentId ? 1 : 0) - (b.parentId ? 1 : 0));
  const ids = new Set(nodes.map((n) => n.id));
  const edges: Edge[] = [];
  const seen = new Set<string>();
  const add = (source: string, target: string, inputName: string) => {
    const sdesc = catalogue.get(nodes.find((n) => n.id === source)?.data.name ?? '');
    const tdesc = catalogue.get(nodes.find((n) => n.id === target)?.data.name ?? '');
    const input = tdesc?.inputs.find((i) => i.name === inputName);
    if (!sdesc || !tdesc || !input) return;
    const key = `${source}>${target}:${inputName}`;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push({
      id: `${source}-${target}-${inputName}`,
      source,
      target,
      sourceHandle: sourceHandleId(source, sdesc),
      targetHandle: targetHandleId(target, input),
    });
  };
  // the references in inputs say which input each connection feeds
  for (const raw of flow.nodes ?? []) {
    if (!ids.has(raw.id)) continue;
    for (const [key, value] of Object.entries(raw.data.inputs ?? {})) {
      for (const source of refsIn(value)) if (ids.has(source)) add(source, raw.id, key);
    }
  }
  // edges whose target input is named by their handle, or found by type
  for (const e of flow.edges ?? []) {
    if (!ids.has(e.source) || !ids.has(e.target)) continue;
    const tnode = nodes.find((n) => n.id === e.target);
    if (tnode && (isAgentflowDesc(catalogue.get(tnode.data.name)) || tnode.data.name.endsWith('Agentflow'))) {
      const snode = nodes.find((n) => n.id === e.source);
      const fallback = branchesOf(snode?.data.name ?? '', snode?.data.inputs ?? {})[0]?.handle ?? '0';
      const sourceHandle = e.sourceHandle ?? branchHandleId(e.source, fallback);
      const key = `${e.source}>${e.target}:${sourceHandle}`;
      if (seen.has(key)) continue;
      seen.add(key);
      edges.push({ id: e.id ?? key, source: e.source, target: e.target, sourceHandle, targetHandle: e.target });
      continue;
    }
    const named = inputOfHandle(e.targetHandle, e.target);
    if (named) {
      add(e.source, e.target, named);
      continue;
    }
    const already = edges.some((x) => x.source === e.source && x.target === e.target);
    if (already) continue;
    const sdesc = catalogue.get(nodes.find((n) => n.id === e.source)?.data.name ?? '');
    const tdesc = catalogue.get(nodes.find((n) => n.id === e.target)?.data.name ?? '');
    const input = tdesc && sdesc ? anchorsOf(tdesc).find((i) => sdesc.baseClasses.includes(i.type)) : undefined;
    if (input) add(e.source, e.target, input.name);
  }
  return { nodes, edges, needsLayout };
}

/** React Flow → flowData in Flowise's shape: anchors become `{{id.data.instance}}`. */
export function fromFlow(nodes: StudioNode[], edges: Edge[], catalogue: Map<string, NodeDesc>): FlowData {
  const out: FlowNode[] = nodes.map((n) => {
    const desc = catalogue.get(n.data.name);
    const inputs: Record<string, unknown> = { ...n.data.inputs };
    for (const anchor of desc ? anchorsOf(desc) : []) {
      const feeding = edges.filter((e) => e.target === n.id && inputOfHandle(e.targetHandle, n.id) === anchor.name);
      if (!feeding.length) {
        inputs[anchor.name] = anchor.list ? [] : '';
      } else if (anchor.list) {
        inputs[anchor.name] = feeding.map((e) => ref(e.source));
      } else {
        inputs[anchor.name] = ref(feeding[0].source);
      }
    }
    if (isAgentflowDesc(desc)) {
      return {
        id: n.id,
        position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
        type: n.data.name === 'iterationAgentflow' ? 'iteration' : 'agentFlow',
        ...(n.parentId ? { parentNode: n.parentId, extent: 'parent' } : {}),
        ...(n.data.name === 'iterationAgentflow'
          ? { width: Number(n.style?.width ?? n.width ?? 300), height: Number(n.style?.height ?? n.height ?? 250) }
          : {}),
        data: { id: n.id, name: n.data.name, label: n.data.label, category: desc?.category, inputs },
      };
    }
    return {
      id: n.id,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      type: 'customNode',
      data: {
        id: n.id,
        name: n.data.name,
        label: n.data.label,
        category: desc?.category,
        baseClasses: desc?.baseClasses,
        inputs,
      },
    };
  });
  const agentflow = new Set(nodes.filter((n) => isAgentflowDesc(catalogue.get(n.data.name))).map((n) => n.id));
  const flowEdges: FlowEdge[] = edges.map((e) => ({
    id: e.id,
    source: e.source,
    target: e.target,
    sourceHandle: e.sourceHandle ?? null,
    targetHandle: e.targetHandle ?? null,
    type: agentflow.has(e.target) ? 'agentFlow' : 'buttonedge',
  }));
  return { nodes: out, edges: flowEdges };
}
