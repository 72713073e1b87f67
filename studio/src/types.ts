// The server's shapes, as the studio reads them (see /docs).

export interface InputOption {
  label: string;
  name: string;
}

export interface InputDesc {
  name: string;
  label: string;
  type: string;
  description: string;
  optional: boolean;
  list: boolean;
  additionalParams: boolean;
  default?: unknown;
  options?: InputOption[];
  placeholder?: string;
  rows?: number;
  step?: number;
  min?: number;
  max?: number;
  // an "array" input's fields (an agentflow's messages, conditions, scenarios, state)
  array?: InputDesc[];
}

export interface CredentialSlot {
  name: string;
  label: string;
  credentialNames: string[];
}

export interface NodeDesc {
  name: string;
  label: string;
  version: number;
  type: string;
  category: string;
  description: string;
  baseClasses: string[];
  inputs: InputDesc[];
  credential?: CredentialSlot;
  ending: boolean;
  icon: string;
  // an Agentflow v2 node: connected by edges between its handles, not by typed inputs
  agentflow?: boolean;
}

export interface Problem {
  nodeId: string | null;
  input: string | null;
  message: string;
  level: 'error' | 'warning';
}

export interface CanvasRow {
  id: string;
  slug: string;
  name: string;
  flowData: string;
  settings: Record<string, unknown>;
  isStreaming: boolean | null;
  createdDate: string;
  updatedDate: string;
  version?: number;
  published?: number | null;
  problems: Problem[];
}

export interface FlowNode {
  id: string;
  position?: { x: number; y: number };
  type?: string;
  parentNode?: string;
  extent?: string;
  width?: number;
  height?: number;
  data: {
    id?: string;
    name: string;
    label?: string;
    category?: string;
    inputs?: Record<string, unknown>;
    credential?: string;
    [key: string]: unknown;
  };
}

export interface FlowEdge {
  id?: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
  type?: string;
}

export interface FlowData {
  nodes: FlowNode[];
  edges: FlowEdge[];
  viewport?: { x: number; y: number; zoom: number };
}

export type RunStatus = 'running' | 'done' | 'error' | 'paused';

export interface StudioNodeData extends Record<string, unknown> {
  name: string;
  label: string;
  inputs: Record<string, unknown>;
  status?: RunStatus;
  ms?: number;
  tokens?: number;
  problems?: Problem[];
  changed?: boolean; // marked by the history's comparison
}
