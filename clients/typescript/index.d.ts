import type { components, operations } from './api-types.js';
type Predict = operations['predict_api_v1_prediction__canvas_id__post'];
type PredictBody = Predict['requestBody']['content']['application/json'];
/** One event of a stream in the canvasflow format (token events also carry `text`). */
export type StreamEvent = Predict['responses'][200]['content']['text/event-stream'];
export type EventName = StreamEvent['event'] | (string & {});
type DataOf<E extends StreamEvent['event']> = Extract<StreamEvent, {
    event: E;
}>['data'];
export type StartData = DataOf<'start'>;
export type StepData = DataOf<'step'>;
export type SourceDocument = DataOf<'source'>[number];
export type MetadataData = DataOf<'metadata'>;
export type ErrorData = DataOf<'error'>;
export type NodeData = DataOf<'node'>;
export type FlowData = DataOf<'flow'>;
/** What an agentflow stopped at a human input asks (proceed / reject). */
export type AgentflowAction = DataOf<'action'>;
export type Usage = components['schemas']['Usage'];
export type HistoryMessage = NonNullable<PredictBody['history']>[number];
/** A prediction's request body, and the signal that stops it. */
export type PredictionData = PredictBody & {
    signal?: AbortSignal;
};
/** The JSON answer of a prediction. */
export type PredictionAnswer = Omit<components['schemas']['PredictionResponse'], 'action'> & {
    action?: AgentflowAction | null;
};
export type AbortAnswer = components['schemas']['AbortResponse'];
export interface ClientOptions {
    baseUrl?: string;
    apiKey?: string;
    /** Re-attach to a stream cut before its end (default true). */
    resume?: boolean;
    maxResumes?: number;
    /** Retries of a request refused with 429, 502, 503 or 504, or not sent. */
    retries?: number;
    fetch?: typeof fetch;
}
interface RequestOptions {
    body?: unknown;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    accept?: string;
}
/** An error from the server, with its status and message. */
export declare class FlowiseError extends Error {
    status?: number;
    serverMessage: string;
    constructor(message: string, status?: number);
}
/** One server-sent event: its name, its data lines joined, and its id. */
export interface SSEMessage {
    event: string;
    data: string;
    id: string;
}
/**
 * A server-sent events parser that takes text in whatever pieces the network gives
 * and returns complete events: multi-line data, CRLF or LF or CR line ends, comments,
 * ids, and lines split across pieces.
 */
export declare class SSEParser {
    private buffer;
    private data;
    private eventName;
    private lastEventId;
    private pendingCR;
    feed(text: string): SSEMessage[];
    private line;
}
/**
 * One streamed prediction: `for await (const event of stream)` gives `{event, data}`
 * objects (token events also carry `text`). `abort()` stops the generation.
 */
export declare class PredictionStream implements AsyncIterable<StreamEvent> {
    private readonly client;
    private readonly body;
    private readonly canvasId;
    private readonly signal?;
    chatId: string | null;
    chatMessageId: string | null;
    lastEventId: number;
    resumes: number;
    /** @internal set by {@link FlowiseClient.resumePrediction} */
    reattach: boolean;
    private ended;
    constructor(client: FlowiseClient, body: Record<string, unknown>, canvasId: string, signal?: AbortSignal | undefined);
    /** Stop the generation on the server. */
    abort(): Promise<AbortAnswer>;
    [Symbol.asyncIterator](): AsyncIterator<StreamEvent>;
    private reattachRequest;
    private read;
}
/** A canvasflow (or Flowise) server. */
export declare class FlowiseClient {
    readonly baseUrl: string;
    readonly apiKey: string;
    readonly resume: boolean;
    readonly maxResumes: number;
    readonly retries: number;
    private readonly fetch;
    constructor(options?: ClientOptions);
    /** One request to `/api/v1/<path>`, retried while the server is busy or unreachable. */
    request(method: string, path: string, { body, headers, signal, accept }?: RequestOptions): Promise<Response>;
    /**
     * Run a canvas. With `streaming: true`, an async iterable of events; otherwise the
     * JSON answer. `canvasId` (or Flowise's `chatflowId`) names the canvas.
     */
    createPrediction(data: PredictionData & {
        streaming: true;
    }): Promise<PredictionStream>;
    createPrediction(data: PredictionData & {
        streaming?: false | null;
    }): Promise<PredictionAnswer>;
    createPrediction(data: PredictionData): Promise<PredictionStream | PredictionAnswer>;
    /**
     * Re-attach to a running or recently finished stream (after a page reload, say):
     * the events after `lastEventId`, then the live ones.
     */
    resumePrediction(options: {
        canvasId: string;
        chatMessageId: string;
        chatId?: string;
        lastEventId?: number;
        signal?: AbortSignal;
    }): PredictionStream;
    /** Stop the generation running for a chat. */
    abort(canvasId: string, chatId: string): Promise<AbortAnswer>;
}
export default FlowiseClient;
