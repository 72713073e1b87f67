export type EventName = 'start' | 'token' | 'step' | 'source' | 'metadata' | 'error' | 'end' | string;

export interface StartData { timestamp: string; chatId: string; chatMessageId: string; sessionId: string; canvasId: string }
export interface StepData { step: string; type: 'tool' | 'agent' | 'retriever' | 'chain'; input: unknown; output: unknown }
export interface SourceDocument { pageContent: string; metadata: { title?: string; source?: string; [key: string]: unknown } }
export interface Usage { prompt_tokens: number; completion_tokens: number; total_tokens: number }
export interface MetadataData {
  chatId: string; chatMessageId: string; sessionId: string; question: string; memoryType: string | null;
  model: string | null; tokens_used: number; usage: Usage; latency_ms: number; status: 'completed' | 'aborted' | 'error';
}
export interface ErrorData { message: string; code: string }

export type StreamEvent =
  | { event: 'start'; data: StartData }
  | { event: 'token'; data: string; text: string }
  | { event: 'step'; data: StepData }
  | { event: 'source'; data: SourceDocument[] }
  | { event: 'metadata'; data: MetadataData }
  | { event: 'error'; data: ErrorData }
  | { event: 'end'; data: '[DONE]' };

export interface HistoryMessage { role?: 'userMessage' | 'apiMessage'; type?: 'userMessage' | 'apiMessage'; content?: string; message?: string }

export interface PredictionData {
  canvasId?: string;
  chatflowId?: string;
  question: string;
  streaming?: boolean;
  overrideConfig?: Record<string, unknown>;
  chatId?: string;
  history?: HistoryMessage[];
  uploads?: unknown[];
  streamFormat?: 'canvasflow' | 'flowise';
  /** Resume an agentflow stopped at a human input (same chatId). */
  humanInput?: { type: 'proceed' | 'reject'; startNodeId?: string; feedback?: string };
  /** An agentflow's Start form values. */
  form?: Record<string, unknown>;
  signal?: AbortSignal;
}

export interface PredictionAnswer {
  text: string; question: string; chatId: string; chatMessageId: string; sessionId: string;
  memoryType?: string; sourceDocuments?: SourceDocument[]; usedTools?: unknown[]; json?: unknown;
  isStreamValid: boolean; usage: Usage; model: string | null; status: string;
  /** An agentflow's run, every node it executed, and what it asks when it stopped. */
  executionId?: string; agentFlowExecutedData?: unknown[]; action?: AgentflowAction;
}

export interface AgentflowAction {
  id: string;
  mapping: { approve: string; reject: string };
  elements: { type: string; label: string }[];
  data: { nodeId: string; nodeLabel: string; input: Record<string, unknown> };
}

export interface ClientOptions {
  baseUrl?: string;
  apiKey?: string;
  resume?: boolean;
  maxResumes?: number;
  retries?: number;
  fetch?: typeof fetch;
}

export class FlowiseError extends Error {
  status?: number;
  serverMessage: string;
  constructor(message: string, status?: number);
}

export class SSEParser {
  feed(text: string): { event: string; data: string; id: string }[];
}

export class PredictionStream implements AsyncIterable<StreamEvent> {
  chatId: string | null;
  chatMessageId: string | null;
  lastEventId: number;
  resumes: number;
  abort(): Promise<{ status: number; message: string }>;
  [Symbol.asyncIterator](): AsyncIterator<StreamEvent>;
}

export class FlowiseClient {
  constructor(options?: ClientOptions);
  createPrediction(data: PredictionData & { streaming: true }): Promise<PredictionStream>;
  createPrediction(data: PredictionData & { streaming?: false }): Promise<PredictionAnswer>;
  createPrediction(data: PredictionData): Promise<PredictionStream | PredictionAnswer>;
  resumePrediction(options: {
    canvasId: string; chatMessageId: string; chatId?: string; lastEventId?: number; signal?: AbortSignal;
  }): PredictionStream;
  abort(canvasId: string, chatId: string): Promise<{ status: number; message: string }>;
}

export default FlowiseClient;
