import { Handle, Position, type NodeProps } from '@xyflow/react';
import { createContext, useContext } from 'react';
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

// One node on the canvas: its icon and label, an anchor per connection input (left),
// its output (right), its problems, and its run status as the test panel runs it.
export function CanvasNode({ id, data, selected }: NodeProps<StudioNode>) {
  const desc = useContext(CatalogueContext).get(data.name);
  const errors = (data.problems ?? []).filter((p) => p.level === 'error');
  const warnings = (data.problems ?? []).filter((p) => p.level === 'warning');
  const status = data.status;
  if (isAgentflowDesc(desc)) {
    const branches = branchesOf(data.name, data.inputs);
    const iteration = data.name === 'iterationAgentflow';
    return (
      <div
        className={`cf-node agentflow${iteration ? ' iteration' : ''}${selected ? ' selected' : ''}${errors.length ? ' has-error' : ''}`}
        style={{ minHeight: 44 + branches.length * 22 }}
        data-node-id={id}
        data-status={status ?? ''}
        title={[...errors, ...warnings].map((p) => p.message).join('\n') || desc?.description}
      >
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
        {data.name !== 'startAgentflow' && <Handle type="target" position={Position.Left} id={id} title="runs after" />}
        {branches.map((b, i) => (
          <div className="cf-branch" key={b.handle} style={{ top: 40 + i * 22 }}>
            {b.label && <span className="branch-label">{b.label}</span>}
            <Handle type="source" position={Position.Right} id={branchHandleId(id, b.handle)} title={b.label || 'then'} />
          </div>
        ))}
        {data.name === 'loopAgentflow' && <div className="cf-output">↺ {String(data.inputs.loopBackToNode ?? '').split('-')[0]}</div>}
        {errors.length > 0 && <div className="cf-node-problems">{errors.length} problem{errors.length > 1 ? 's' : ''}</div>}
      </div>
    );
  }
  return (
    <div
      className={`cf-node${selected ? ' selected' : ''}${errors.length ? ' has-error' : ''}`}
      data-node-id={id}
      data-status={status ?? ''}
      title={[...errors, ...warnings].map((p) => p.message).join('\n') || desc?.description}
    >
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
      {desc &&
        anchorsOf(desc).map((input, i) => (
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
      {desc && <div className="cf-output">{desc.baseClasses[0]}</div>}
      {desc && !desc.ending && (
        <Handle type="source" position={Position.Right} id={sourceHandleId(id, desc)} title={desc.baseClasses.join(', ')} />
      )}
      {errors.length > 0 && <div className="cf-node-problems">{errors.length} problem{errors.length > 1 ? 's' : ''}</div>}
    </div>
  );
}
