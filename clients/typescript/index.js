// canvasflow-sdk: a client for canvasflow's prediction API (and Flowise's), for Node 20+
// and browsers. Plain ES module with JSDoc; the types are in index.d.ts.

/** An error from the server, with its status and message. */
export class FlowiseError extends Error {
  /** @param {string} message @param {number} [status] */
  constructor(message, status) {
    super(status ? `${status}: ${message}` : message);
    this.name = 'FlowiseError';
    this.status = status;
    this.serverMessage = message;
  }
}

/**
 * A server-sent events parser that takes text in whatever pieces the network gives
 * and returns complete events: multi-line data, CRLF or LF or CR line ends, comments,
 * ids, and lines split across pieces.
 */
export class SSEParser {
  constructor() {
    this.buffer = '';
    this.data = [];
    this.eventName = '';
    this.lastEventId = '';
    this.pendingCR = false;
  }

  /** @param {string} text @returns {{event: string, data: string, id: string}[]} */
  feed(text) {
    const out = [];
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) out.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** @param {string} line */
  line(line) {
    if (line === '') {
      if (this.data.length === 0) {
        this.eventName = '';
        return null;
      }
      const event = { event: this.eventName || 'message', data: this.data.join('\n'), id: this.lastEventId };
      this.data = [];
      this.eventName = '';
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventName = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One streamed prediction: `for await (const event of stream)` gives `{event, data}`
 * objects (token events also carry `text`). `abort()` stops the generation.
 */
export class PredictionStream {
  /** @param {FlowiseClient} client @param {Record<string, any>} body @param {string} canvasId @param {AbortSignal} [signal] */
  constructor(client, body, canvasId, signal) {
    this.client = client;
    this.body = body;
    this.canvasId = canvasId;
    this.signal = signal;
    this.chatId = body.chatId ?? null;
    this.chatMessageId = null;
    this.lastEventId = 0;
    this.resumes = 0;
    this.ended = false;
    if (signal) {
      signal.addEventListener('abort', () => {
        if (!this.ended && this.chatId) this.abort().catch(() => {});
      }, { once: true });
    }
  }

  /** Stop the generation on the server. */
  async abort() {
    if (!this.chatId) throw new FlowiseError('the stream has not started yet');
    return this.client.abort(this.canvasId, this.chatId);
  }

  async *[Symbol.asyncIterator]() {
    const client = this.client;
    let response = this.reattach
      ? await this.reattachRequest()
      : await client.request('POST', `prediction/${encodeURIComponent(this.canvasId)}`, {
        body: this.body, signal: this.signal, accept: 'text/event-stream',
      });
    for (;;) {
      let broke = null;
      try {
        for await (const event of this.read(response)) {
          yield event;
          if (this.ended) return;
        }
      } catch (error) {
        if (this.signal?.aborted) throw error;
        broke = error;
      }
      if (this.ended) return;
      if (!client.resume || !this.chatMessageId || this.resumes >= client.maxResumes) {
        throw new FlowiseError(`the stream ended before its end event${broke ? `: ${broke}` : ''}`);
      }
      this.resumes += 1;
      response = await this.reattachRequest();
    }
  }

  reattachRequest() {
    const path = `prediction/${encodeURIComponent(this.canvasId)}/stream/${encodeURIComponent(this.chatMessageId)}`;
    return this.client.request('GET', path, {
      headers: { 'Last-Event-ID': String(this.lastEventId) }, signal: this.signal, accept: 'text/event-stream',
    });
  }

  /** @param {Response} response */
  async *read(response) {
    const parser = new SSEParser();
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const sse of parser.feed(decoder.decode(value, { stream: true }))) {
          if (sse.data === '[DONE]') continue;
          const event = JSON.parse(sse.data);
          const id = Number.parseInt(sse.id, 10);
          if (Number.isFinite(id)) {
            if (id <= this.lastEventId) continue; // already delivered before a resume
            this.lastEventId = id;
          }
          if (event.event === 'start' && event.data && typeof event.data === 'object') {
            this.chatId = event.data.chatId ?? this.chatId;
            this.chatMessageId = event.data.chatMessageId ?? this.chatMessageId;
          } else if (event.event === 'metadata' && event.data) {
            this.chatId ??= event.data.chatId;
            this.chatMessageId ??= event.data.chatMessageId;
          } else if (event.event === 'end') {
            this.ended = true;
          }
          yield event;
          if (this.ended) return;
        }
      }
    } finally {
      reader.releaseLock();
      if (!this.ended) await response.body.cancel().catch(() => {});
    }
  }
}

/** A canvasflow (or Flowise) server. */
export class FlowiseClient {
  /**
   * @param {{baseUrl?: string, apiKey?: string, resume?: boolean, maxResumes?: number,
   *          retries?: number, fetch?: typeof fetch}} [options]
   */
  constructor(options = {}) {
    this.baseUrl = (options.baseUrl ?? 'http://localhost:3000').replace(/\/+$/, '');
    this.apiKey = options.apiKey ?? '';
    this.resume = options.resume ?? true;
    this.maxResumes = options.maxResumes ?? 5;
    this.retries = options.retries ?? 3;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** @returns {Promise<Response>} */
  async request(method, path, { body, headers = {}, signal, accept = 'application/json' } = {}) {
    const init = {
      method,
      signal,
      headers: {
        Accept: accept,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    };
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await this.fetch(`${this.baseUrl}/api/v1/${path}`, init);
      } catch (error) {
        if (signal?.aborted || attempt >= this.retries) throw error;
        await sleep(Math.random() * Math.min(8000, 250 * 2 ** attempt));
        continue;
      }
      if (response.ok) return response;
      const retryable = [429, 502, 503, 504].includes(response.status);
      if (retryable && attempt < this.retries) {
        const after = Number.parseFloat(response.headers.get('retry-after') ?? '');
        await response.body?.cancel().catch(() => {});
        await sleep(Number.isFinite(after) ? after * 1000 : Math.random() * Math.min(8000, 250 * 2 ** attempt));
        continue;
      }
      let message = response.statusText;
      try {
        const parsed = await response.json();
        message = parsed.message ?? parsed.error?.message ?? message;
      } catch {
        // not JSON
      }
      throw new FlowiseError(message, response.status);
    }
  }

  /**
   * Run a canvas. With `streaming: true`, an async iterable of events; otherwise the
   * JSON answer. `canvasId` (or Flowise's `chatflowId`) names the canvas.
   */
  async createPrediction(data) {
    const { canvasId, chatflowId, signal, streaming, ...rest } = data;
    const id = canvasId ?? chatflowId;
    if (!id) throw new FlowiseError('createPrediction needs canvasId (or chatflowId)');
    const body = { ...rest, streaming: Boolean(streaming) };
    if (!streaming) {
      const response = await this.request('POST', `prediction/${encodeURIComponent(id)}`, { body, signal });
      return response.json();
    }
    if (this.resume) {
      body.overrideConfig = { continueOnDisconnect: true, ...(body.overrideConfig ?? {}) };
    }
    return new PredictionStream(this, body, id, signal);
  }

  /**
   * Re-attach to a running or recently finished stream (after a page reload, say):
   * the events after `lastEventId`, then the live ones.
   */
  resumePrediction({ canvasId, chatMessageId, chatId, lastEventId = 0, signal }) {
    const stream = new PredictionStream(this, { chatId }, canvasId, signal);
    stream.chatMessageId = chatMessageId;
    stream.lastEventId = lastEventId;
    stream.reattach = true;
    return stream;
  }

  /** Stop the generation running for a chat. */
  async abort(canvasId, chatId) {
    const path = `chatmessage/abort/${encodeURIComponent(canvasId)}/${encodeURIComponent(chatId)}`;
    const response = await this.request('PUT', path, {});
    return response.json();
  }
}

export default FlowiseClient;
