// The guide's TypeScript example as a user would run it with the published
// flowise-sdk: createPrediction with canvasId and streaming, for await over chunks.
import flowiseSdk from 'flowise-sdk';

const { FlowiseClient } = flowiseSdk;

const [baseUrl, canvasId, question] = process.argv.slice(2);
const client = new FlowiseClient({ baseUrl });
const chunks = [];
let failure = null;
try {
  const prediction = await client.createPrediction({ canvasId, question, streaming: true });
  if (prediction && typeof prediction[Symbol.asyncIterator] === 'function') {
    for await (const chunk of prediction) chunks.push(chunk);
  } else {
    chunks.push(prediction);
  }
} catch (error) {
  failure = String(error);
}
console.log(JSON.stringify({ chunks, failure }));
