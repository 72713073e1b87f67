// The server's shapes, as the studio reads them (see /docs): generated ones where the
// schema describes them, and the canvas's own document (flowData), which it keeps as text.
import type {
  SchemaCanvasOut,
  SchemaCredentialSlot,
  SchemaInputDesc,
  SchemaInputOption,
  SchemaNodeDesc,
  SchemaProblem,
} from './api-types';

// generated from the server's OpenAPI schema (scripts/api-types.sh)
export type Problem = SchemaProblem;
export type InputOption = SchemaInputOption;
export type InputDesc = SchemaInputDesc;
export type CredentialSlot = SchemaCredentialSlot;
export type NodeDesc = SchemaNodeDesc;
export type CanvasRow = SchemaCanvasOut;

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
