// The guide's TypeScript example, done with this SDK: import the client, createPrediction
// with canvasId and streaming: true, `for await` over the chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowiseClient } from 'canvasflow-sdk';

const { CANVASFLOW_URL, CANVAS_SHORT } = process.env;

test('the guide example works as written', { skip: !CANVASFLOW_URL && 'no live server' }, async () => {
  const chunks = [];
  async function testStreaming() {
    const client = new FlowiseClient({ baseUrl: CANVASFLOW_URL });
    try {
      const prediction = await client.createPrediction({
        canvasId: CANVAS_SHORT,
        question: 'What is the capital of France?',
        streaming: true,
      });
      for await (const chunk of prediction) {
        chunks.push(chunk);
      }
    } catch (error) {
      assert.fail(`the example failed: ${error}`);
    }
  }
  await testStreaming();
  assert.equal(chunks.filter((c) => c.event === 'token').length, 5);
  assert.deepEqual(chunks.at(-1), { event: 'end', data: '[DONE]' });
});
