// Compiled (not run) by tests/test_typescript_sdk.py: what a TypeScript user writes
// type-checks against the published declarations.
import { FlowiseClient, type PredictionAnswer, type StreamEvent } from '../index.js';

export async function typed(): Promise<string> {
  const client = new FlowiseClient({ baseUrl: 'http://localhost:3000', apiKey: 'k' });
  const stream = await client.createPrediction({ canvasId: 'c', question: 'Hi', streaming: true });
  let text = '';
  for await (const chunk of stream) {
    const event: StreamEvent = chunk;
    if (event.event === 'token') text += event.data;
    else if (event.event === 'metadata') text += String(event.data.usage.total_tokens);
    else if (event.event === 'source') text += event.data.map((d) => d.pageContent).join();
    else if (event.event === 'error') text += event.data.code;
  }
  const answer: PredictionAnswer = await client.createPrediction({ chatflowId: 'c', question: 'Hi' });
  return text + answer.text + (answer.action?.mapping.approve ?? '') + String(answer.usage.total_tokens);
}
