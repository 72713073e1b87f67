// Runs against a live canvasflow server started by the Python test suite, which sets:
// CANVASFLOW_URL, CANVAS_SHORT (5 tokens), CANVAS_LONG (many slow tokens),
// CANVAS_SLOW (30 tokens, 10 ms apart), PROXY_URL (cuts its first connection mid-stream).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowiseClient, FlowiseError } from 'canvasflow-sdk';

const { CANVASFLOW_URL, CANVAS_SHORT, CANVAS_LONG, CANVAS_SLOW, PROXY_URL } = process.env;
const live = { skip: !CANVASFLOW_URL && 'no live server (run through pytest)' };
const words = (n) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

test('streams every token in order, then end', live, async () => {
  const client = new FlowiseClient({ baseUrl: CANVASFLOW_URL });
  const stream = await client.createPrediction({ canvasId: CANVAS_SHORT, question: 'q', streaming: true });
  const events = [];
  for await (const event of stream) events.push(event);
  assert.equal(events[0].event, 'start');
  assert.equal(events.filter((e) => e.event === 'token').map((e) => e.data).join(''), words(5));
  assert.deepEqual(events.at(-1), { event: 'end', data: '[DONE]' });
  assert.equal(events.at(-2).data.status, 'completed');
  assert.ok(stream.chatMessageId);
});

test('answers JSON when not streaming', live, async () => {
  const client = new FlowiseClient({ baseUrl: CANVASFLOW_URL });
  const answer = await client.createPrediction({ canvasId: CANVAS_SHORT, question: 'q' });
  assert.equal(answer.text, words(5));
  assert.equal(answer.usage.completion_tokens, 5);
});

test('typed errors carry the status and message', live, async () => {
  const client = new FlowiseClient({ baseUrl: CANVASFLOW_URL, retries: 0 });
  await assert.rejects(client.createPrediction({ canvasId: 'missing', question: 'q', streaming: true })
    .then(async (s) => { for await (const _ of s) { /* drain */ } }), (error) => {
    assert.ok(error instanceof FlowiseError);
    assert.equal(error.status, 404);
    assert.match(error.serverMessage, /missing/);
    return true;
  });
});

test('an AbortSignal stops the stream and the generation', live, async () => {
  const client = new FlowiseClient({ baseUrl: CANVASFLOW_URL });
  const controller = new AbortController();
  const chatId = `ts-abort-${Date.now()}`;
  const stream = await client.createPrediction({
    canvasId: CANVAS_LONG, question: 'q', streaming: true, chatId, signal: controller.signal,
  });
  let tokens = 0;
  await assert.rejects((async () => {
    for await (const event of stream) {
      if (event.event === 'token' && ++tokens === 3) controller.abort();
    }
  })(), { name: 'AbortError' });
  // the server stored what was generated, as aborted
  let stored = [];
  for (let i = 0; i < 50 && stored.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await fetch(`${CANVASFLOW_URL}/api/v1/chatmessage/${CANVAS_LONG}?chatId=${chatId}`);
    stored = await r.json();
  }
  assert.equal(stored.at(-1).status, 'aborted');
});

test('a dropped stream is resumed: every event once, in order', live, async () => {
  const client = new FlowiseClient({ baseUrl: PROXY_URL });
  const stream = await client.createPrediction({ canvasId: CANVAS_SLOW, question: 'q', streaming: true });
  const ids = [];
  const tokens = [];
  for await (const event of stream) {
    ids.push(stream.lastEventId);
    if (event.event === 'token') tokens.push(event.data);
  }
  assert.ok(stream.resumes >= 1);
  assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1));
  assert.equal(tokens.join(''), words(30));
});
