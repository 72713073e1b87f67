// Runs Flowise's published TypeScript SDK (npm "flowise-sdk") against a server:
// node flowise_sdk_client.mjs BASE_URL CHATFLOW_ID QUESTION [stream|json] [API_KEY]
// Prints a JSON summary of what the SDK yielded.
import flowiseSdk from 'flowise-sdk';

const { FlowiseClient } = flowiseSdk;

const [baseUrl, chatflowId, question, mode = 'stream', apiKey] = process.argv.slice(2);
const client = new FlowiseClient({ baseUrl, apiKey });
const streaming = mode === 'stream';
const result = await client.createPrediction({ chatflowId, question, streaming });

if (!streaming) {
  console.log(JSON.stringify({ mode, answer: result }));
} else {
  const events = [];
  for await (const chunk of result) {
    events.push(chunk);
  }
  console.log(JSON.stringify({ mode, events }));
}
