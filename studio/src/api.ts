// The server's API, same origin: the session cookie (HttpOnly) authenticates.
import type { Execution, ExecutionPage, ExecutionQuery, ScheduleStatus, TickPage } from './executions';
import { queryString } from './executions';
import type { McpConfig } from './mcp';
import type {
  SchemaApiKeyCreated,
  SchemaApiKeyOut,
  SchemaApiDialog,
  SchemaChatMessageOut,
  SchemaChatStats,
  SchemaConversationOut,
  SchemaConversationPage,
  SchemaUsageOut,
  SchemaMarketplaceTemplate,
  SchemaToolOut,
  SchemaToolRunResult,
  SchemaVariableOut,
  SchemaGeneratedFlow,
  SchemaLeadOut,
  SchemaCredentialKind,
  SchemaCredentialOut,
  SchemaModelChoice,
  SchemaModelDefaults,
  SchemaOllamaStatus,
  SchemaSessionInfo,
  SchemaTemplateOut,
  SchemaVersionDiff,
  SchemaVersionOut,
} from './api-types';
import type { CanvasRow, FlowData, NodeDesc, Problem } from './types';

export class ApiError extends Error {
  status: number;
  problems: Problem[];
  constructor(status: number, message: string, problems: Problem[] = []) {
    super(message);
    this.status = status;
    this.problems = problems;
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!r.ok) throw new ApiError(r.status, parsed?.message ?? r.statusText, parsed?.problems ?? []);
  return parsed as T;
}

// the server's shapes, generated from its OpenAPI schema (scripts/api-types.sh)
export type Session = SchemaSessionInfo;
export type Credential = SchemaCredentialOut;
export type CredentialKind = SchemaCredentialKind;
/** A key as listed; right after it was made, with the key itself (shown once). */
export type ApiKey = SchemaApiKeyOut & Partial<Pick<SchemaApiKeyCreated, 'key'>>;
export type Version = SchemaVersionOut;
export type ModelChoice = SchemaModelChoice;
export type ModelDefaults = SchemaModelDefaults;
export type OllamaStatus = SchemaOllamaStatus;
export type SavedTemplate = SchemaTemplateOut;
export type VersionDiff = SchemaVersionDiff;
export type Variable = SchemaVariableOut;
export type ApiDialogData = SchemaApiDialog;
export type Conversation = SchemaConversationOut;
export type UsageData = SchemaUsageOut;
export type MarketplaceTemplate = SchemaMarketplaceTemplate;
export type LibraryTool = SchemaToolOut;
export type ToolRunResult = SchemaToolRunResult;
type VariableBody = { name: string; value: string; type: 'static' | 'runtime' };
type ToolBody = { name: string; description: string; schema: string; func: string };

const call = request;

export const api = {
  session: () => call<Session>('GET', '/api/v1/auth/session'),
  signIn: (key: string) => call<Session>('POST', '/api/v1/auth/session', { key }),
  signOut: () => call<void>('DELETE', '/api/v1/auth/session'),
  nodes: () => call<NodeDesc[]>('GET', '/api/v1/nodes'),
  canvases: () => call<CanvasRow[]>('GET', '/api/v1/canvases'),
  canvas: (id: string) => call<CanvasRow>('GET', `/api/v1/canvases/${encodeURIComponent(id)}`),
  createCanvas: (name: string, flowData: FlowData, settings: Record<string, unknown> = {}) =>
    call<CanvasRow>('POST', '/api/v1/canvases', { name, flowData, settings }),
  updateCanvas: (id: string, changes: { name?: string; flowData?: FlowData; settings?: Record<string, unknown> }) =>
    call<CanvasRow>('PUT', `/api/v1/canvases/${encodeURIComponent(id)}`, changes),
  deleteCanvas: (id: string) => call<void>('DELETE', `/api/v1/canvases/${encodeURIComponent(id)}`),
  // a file's name names the canvas when the file holds none (a Flowise export)
  importCanvas: (doc: unknown, name?: string) =>
    call<CanvasRow>('POST', `/api/v1/canvases/import${name ? `?name=${encodeURIComponent(name)}` : ''}`, doc),
  exportCanvas: (id: string) => call<unknown>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/export`),
  // deep: also ask each model's provider whether it answers with the key it would use
  validate: (flowData: FlowData, deep = false) =>
    call<{ valid: boolean; problems: Problem[] }>('POST', `/api/v1/canvases/validate${deep ? '?deep=1' : ''}`, { flowData }),
  credentials: () => call<Credential[]>('GET', '/api/v1/credentials'),
  variables: () => call<Variable[]>('GET', '/api/v1/variables'),
  conversations: (canvasId: string, q: Record<string, string>) =>
    call<SchemaConversationPage>('GET', `/api/v1/chatmessage/${encodeURIComponent(canvasId)}/conversations?${new URLSearchParams(q)}`),
  messages: (canvasId: string, q: Record<string, string>) =>
    call<SchemaChatMessageOut[]>('GET', `/api/v1/chatmessage/${encodeURIComponent(canvasId)}?${new URLSearchParams(q)}`),
  deleteMessages: (canvasId: string, q: Record<string, string>) =>
    call<{ deleted: number }>('DELETE', `/api/v1/chatmessage/${encodeURIComponent(canvasId)}?${new URLSearchParams(q)}`),
  usage: (canvasId: string | undefined, days: number) =>
    call<UsageData>('GET', `/api/v1/usage?${new URLSearchParams({ days: String(days), ...(canvasId ? { canvasId } : {}) })}`),
  marketplace: () => call<MarketplaceTemplate[]>('GET', '/api/v1/marketplaces/templates'),
  apiDialog: (canvasId: string, override: boolean) =>
    call<ApiDialogData>('GET', `/api/v1/canvases/${encodeURIComponent(canvasId)}/api-dialog${override ? '?override=true' : ''}`),
  createVariable: (body: VariableBody) => call<Variable>('POST', '/api/v1/variables', body),
  updateVariable: (id: string, body: VariableBody) => call<Variable>('PUT', `/api/v1/variables/${encodeURIComponent(id)}`, body),
  deleteVariable: (id: string) => call<void>('DELETE', `/api/v1/variables/${encodeURIComponent(id)}`),
  tools: () => call<LibraryTool[]>('GET', '/api/v1/tools'),
  createTool: (body: ToolBody) => call<LibraryTool>('POST', '/api/v1/tools', body),
  updateTool: (id: string, body: ToolBody) => call<LibraryTool>('PUT', `/api/v1/tools/${encodeURIComponent(id)}`, body),
  deleteTool: (id: string) => call<void>('DELETE', `/api/v1/tools/${encodeURIComponent(id)}`),
  runTool: (body: { func: string; schema: string; name: string; arguments: Record<string, unknown> }) =>
    call<ToolRunResult>('POST', '/api/v1/tools/run', body),
  stats: (canvasId: string) => call<SchemaChatStats>('GET', `/api/v1/stats/${encodeURIComponent(canvasId)}`),
  leads: (canvasId: string) => call<SchemaLeadOut[]>('GET', `/api/v1/leads/${encodeURIComponent(canvasId)}`),
  credentialKinds: () => call<CredentialKind[]>('GET', '/api/v1/components-credentials'),
  createCredential: (name: string, credentialName: string, plainDataObj: Record<string, unknown>) =>
    call<Credential>('POST', '/api/v1/credentials', { name, credentialName, plainDataObj }),
  deleteCredential: (id: string) => call<void>('DELETE', `/api/v1/credentials/${encodeURIComponent(id)}`),
  // its secret fields come masked; sent back masked, a field keeps its stored value
  credential: (id: string) => call<Credential>('GET', `/api/v1/credentials/${encodeURIComponent(id)}`),
  updateCredential: (id: string, name: string, plainDataObj: Record<string, unknown>) =>
    call<Credential>('PUT', `/api/v1/credentials/${encodeURIComponent(id)}`, { name, plainDataObj }),
  keys: () => call<ApiKey[]>('GET', '/api/v1/apikeys'),
  createKey: (name: string, admin: boolean, canvases: string[]) =>
    call<ApiKey>('POST', '/api/v1/apikeys', { name, admin, canvases }),
  deleteKey: (id: string) => call<void>('DELETE', `/api/v1/apikeys/${encodeURIComponent(id)}`),
  nodeLoadMethod: (name: string, loadMethod: string, inputs: Record<string, unknown>) =>
    call<{ name: string; label: string; description: string }[]>(
      'POST',
      `/api/v1/node-load-method/${encodeURIComponent(name)}`,
      { loadMethod, inputs },
    ),
  mcpServer: (id: string) => call<McpConfig>('GET', `/api/v1/mcp-server/${encodeURIComponent(id)}`),
  enableMcp: (id: string) => call<McpConfig>('POST', `/api/v1/mcp-server/${encodeURIComponent(id)}`, {}),
  updateMcp: (id: string, changes: { toolName?: string; description?: string; enabled?: boolean }) =>
    call<McpConfig>('PUT', `/api/v1/mcp-server/${encodeURIComponent(id)}`, changes),
  rotateMcp: (id: string) => call<McpConfig>('POST', `/api/v1/mcp-server/${encodeURIComponent(id)}/refresh`),
  disableMcp: (id: string) => call<void>('DELETE', `/api/v1/mcp-server/${encodeURIComponent(id)}`),
  modelDefaults: () => call<ModelDefaults>('GET', '/api/v1/model-defaults'),
  generateAgentflow: (question: string, selectedChatModel: { name: string; inputs: Record<string, unknown> }) =>
    call<SchemaGeneratedFlow>('POST', '/api/v1/agentflowv2-generator/generate', { question, selectedChatModel }),
  // each is checked first (its provider asked for its models with its key): a 400 says why
  setModelDefaults: (defaults: ModelDefaults) => call<ModelDefaults>('PUT', '/api/v1/model-defaults', defaults),
  ollama: () => call<OllamaStatus>('GET', '/api/v1/ollama'),
  // templates saved from canvases ("My templates"; Flowise's custom templates)
  templates: () => call<SavedTemplate[]>('GET', '/api/v1/marketplaces/custom'),
  saveTemplate: (canvasId: string, name: string, description: string) =>
    call<SavedTemplate>('POST', '/api/v1/marketplaces/custom', { canvasId, name, description }),
  deleteTemplate: (id: string) => call<void>('DELETE', `/api/v1/marketplaces/custom/${encodeURIComponent(id)}`),
  versions: (id: string) => call<Version[]>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/versions`),
  version: (id: string, n: number) => call<Version>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/versions/${n}`),
  versionDiff: (id: string, a: number, b: number) =>
    call<VersionDiff>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/versions/${a}/diff/${b}`),
  restoreVersion: (id: string, n: number) =>
    call<CanvasRow>('POST', `/api/v1/canvases/${encodeURIComponent(id)}/versions/${n}/restore`),
  publish: (id: string, version: number | null) =>
    call<CanvasRow>('PUT', `/api/v1/canvases/${encodeURIComponent(id)}/published`, { version }),
  executions: (q: ExecutionQuery) => call<ExecutionPage>('GET', `/api/v1/executions${queryString(q)}`),
  execution: (id: string) => call<Execution>('GET', `/api/v1/executions/${encodeURIComponent(id)}`),
  publicExecution: (id: string) => call<Execution>('GET', `/api/v1/public-executions/${encodeURIComponent(id)}`),
  shareExecution: (id: string, isPublic: boolean) =>
    call<Execution>('PUT', `/api/v1/executions/${encodeURIComponent(id)}`, { isPublic }),
  deleteExecutions: (ids: string[]) =>
    call<{ deletedCount: number }>('DELETE', '/api/v1/executions', { executionIds: ids }),
  runAgain: (id: string) =>
    call<{ executionId: string; chatId: string }>('POST', `/api/v1/executions/${encodeURIComponent(id)}/run`),
  makeWebhookSecret: (id: string) =>
    call<{ webhookSecret: string }>('POST', `/api/v1/canvases/${encodeURIComponent(id)}/webhook-secret`),
  removeWebhookSecret: (id: string) => call<void>('DELETE', `/api/v1/canvases/${encodeURIComponent(id)}/webhook-secret`),
  scheduleStatus: (id: string) => call<ScheduleStatus>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/schedule/status`),
  setScheduleEnabled: (id: string, enabled: boolean) =>
    call<ScheduleStatus>('PATCH', `/api/v1/canvases/${encodeURIComponent(id)}/schedule/enabled`, { enabled }),
  scheduleLogs: (id: string) => call<TickPage>('GET', `/api/v1/canvases/${encodeURIComponent(id)}/schedule/logs?limit=10`),
};
