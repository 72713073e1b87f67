import { Handle, NodeToolbar, Position, useReactFlow, type Edge, type NodeProps } from '@xyflow/react';
import { createContext, useContext, useRef, useState } from 'react';
import { pasted } from '../editor/clipboard';
import { clean } from '../editor/history';
import {
  anchorsOf,
  branchHandleId,
  branchesOf,
  isAgentflowDesc,
  sourceHandleId,
  targetHandleId,
  type StudioNode,
} from '../graph';
import type { NodeDesc } from '../types';

export const CatalogueContext = createContext<Map<string, NodeDesc>>(new Map());

// A chatflow node's connections: an anchor per connection input (left), its output (right).
/** What a node's output is, in words: Flowise's label of its first output when it has
 *  one (an In-Memory Vector Store gives a "Memory Retriever", not a "Memory"), else its
 *  first class. */
export function outputLabel(desc: NodeDesc): string {
  const first = desc.outputs?.[0] as { label?: unknown } | undefined;
  return typeof first?.label === 'string' && first.label ? first.label : desc.baseClasses[0] ?? '';
}

function Anchors({ id, desc }: { id: string; desc: NodeDesc }) {
  return (
    <>
      {anchorsOf(desc).map((input, i) => (
        <div className="cf-anchor" key={input.name}>
          <Handle
            type="target"
            position={Position.Left}
            id={targetHandleId(id, input)}
            style={{ top: 58 + i * 22 }}
            title={`${input.label}: ${input.type}`}
          />
          <span className={input.optional ? 'anchor-label' : 'anchor-label required'}>{input.label}</span>
        </div>
      ))}
      <div className="cf-output">{outputLabel(desc)}</div>
      {!desc.ending && (
        <Handle type="source" position={Position.Right} id={sourceHandleId(id, desc)} title={desc.baseClasses.join(', ')} />
      )}
    </>
  );
}

// An agentflow node's connections: it runs after the node on its left (not the Start);
// one output per branch on its right (none for a loop, which jumps back instead).
function Branches({ id, data }: { id: string; data: StudioNode['data'] }) {
  return (
    <>
      {data.name !== 'startAgentflow' && <Handle type="target" position={Position.Left} id={id} title="runs after" />}
      {branchesOf(data.name, data.inputs).map((b, i) => (
        <div className="cf-branch" key={b.handle} style={{ top: 40 + i * 22 }}>
          {b.label && <span className="branch-label">{b.label}</span>}
          <Handle type="source" position={Position.Right} id={branchHandleId(id, b.handle)} title={b.label || 'then'} />
        </div>
      ))}
      {data.name === 'loopAgentflow' && (
        <div className="cf-output">↺ {String(data.inputs.loopBackToNode ?? '').split('-')[0]}</div>
      )}
    </>
  );
}

// One node on the canvas: its icon and label, its connections, its problems, and its
// run status as the test panel runs it.
/** Over the node the pointer is on: duplicate it, delete it, or read
 *  what it is. */
function HoverTools({ id, desc, visible, hover }: {
  id: string;
  desc?: NodeDesc;
  visible: boolean;
  hover: (on: boolean) => void;
}) {
  const flow = useReactFlow<StudioNode, Edge>();
  const [info, setInfo] = useState(false);
  const duplicate = () => {
    const me = flow.getNode(id);
    if (!me) return;
    const copy = pasted({ nodes: clean([me]), edges: [] }, flow.getNodes().map((n) => n.id));
    flow.setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), ...copy.nodes]);
  };
  return (
    <NodeToolbar
      isVisible={visible || info}
      position={Position.Top}
      className="node-tools"
      onMouseEnter={() => hover(true)}
      onMouseLeave={() => hover(false)}
    >
      <button type="button" className="ghost small" title="Duplicate" onClick={duplicate}>
        Duplicate
      </button>
      <button type="button" className="ghost small danger" title="Delete" onClick={() => flow.deleteElements({ nodes: [{ id }] })}>
        Delete
      </button>
      <button type="button" className="ghost small" title="What this node is" aria-pressed={info} onClick={() => setInfo(!info)}>
        Info
      </button>
      {info && desc && (
        <div className="node-info" role="note">
          <strong>{desc.label}</strong> <code>{desc.name}</code>
          <p>{desc.description}</p>
          <p className="hint">Gives: {desc.baseClasses.join(', ') || 'the answer'}</p>
        </div>
      )}
    </NodeToolbar>
  );
}

export function CanvasNode({ id, data, selected }: NodeProps<StudioNode>) {
  const desc = useContext(CatalogueContext).get(data.name);
  const [hovered, setHovered] = useState(false);
  // leaving the node for its toolbar (a gap apart) must not hide the toolbar at once
  const leaving = useRef<ReturnType<typeof setTimeout> | null>(null);
  const hover = (on: boolean) => {
    if (leaving.current) clearTimeout(leaving.current);
    leaving.current = null;
    if (on) setHovered(true);
    else leaving.current = setTimeout(() => setHovered(false), 300);
  };
  const errors = (data.problems ?? []).filter((p) => p.level === 'error');
  const warnings = (data.problems ?? []).filter((p) => p.level === 'warning');
  const status = data.status;
  const agentflow = isAgentflowDesc(desc);
  const kind = agentflow ? ` agentflow${data.name === 'iterationAgentflow' ? ' iteration' : ''}` : '';
  return (
    <div
      className={`cf-node${kind}${selected ? ' selected' : ''}${errors.length ? ' has-error' : ''}`}
      style={agentflow ? { minHeight: 44 + branchesOf(data.name, data.inputs).length * 22 } : undefined}
      data-node-id={id}
      data-status={status ?? ''}
      data-changed={data.changed ? 'true' : undefined}
      title={[...errors, ...warnings].map((p) => p.message).join('\n') || desc?.description}
      onMouseEnter={() => hover(true)}
      onMouseLeave={() => hover(false)}
    >
      <HoverTools id={id} desc={desc} visible={hovered} hover={hover} />
      <div className="cf-node-head">
        {desc && <img src={desc.icon} alt="" width={22} height={22} />}
        <span className="cf-node-label">{data.label}</span>
        {status && (
          <span className={`run ${status}`}>
            {status === 'running' ? 'running' : status}
            {data.ms !== undefined && status !== 'running' ? ` · ${data.ms} ms` : ''}
            {data.tokens ? ` · ${data.tokens} tok` : ''}
          </span>
        )}
      </div>
      <div className="cf-node-id">{id}</div>
      {desc && (agentflow ? <Branches id={id} data={data} /> : <Anchors id={id} desc={desc} />)}
      {errors.length > 0 && <div className="cf-node-problems">{errors.length} problem{errors.length > 1 ? 's' : ''}</div>}
    </div>
  );
}
