import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SSEParser } from 'canvasflow-sdk';

const STREAM = 'id: 1\r\ndata: {"event":"start"}\r\n\r\n: ping\n\nid: 2\ndata: line one\ndata: line two\n\n'
  + 'event: custom\rdata: cr only\r\r';

test('events come out whole whatever the pieces', () => {
  for (const size of [1, 2, 3, 7, 1000]) {
    const parser = new SSEParser();
    const events = [];
    for (let i = 0; i < STREAM.length; i += size) events.push(...parser.feed(STREAM.slice(i, i + size)));
    assert.deepEqual(events, [
      { event: 'message', data: '{"event":"start"}', id: '1' },
      { event: 'message', data: 'line one\nline two', id: '2' },
      { event: 'custom', data: 'cr only', id: '2' },
    ], `pieces of ${size}`);
  }
});

test('comments and empty blocks give nothing', () => {
  const parser = new SSEParser();
  assert.deepEqual(parser.feed(':heartbeat\n\n\n\n: ping\n\n'), []);
});
