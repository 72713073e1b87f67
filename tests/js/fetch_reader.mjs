// Reads a prediction stream the way the guide's fetch example does: each chunk is
// decoded on its own, split on "\n", lines starting with "data: " are JSON-parsed,
// parse errors are ignored, and "[DONE]" ends the reading. Prints a JSON summary.
const [url, question] = process.argv.slice(2);

const response = await fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ question, streaming: true }),
});
const reader = response.body.getReader();
const decoder = new TextDecoder();
let text = '';
let done = false;
let events = 0;

outer: for (;;) {
  const chunk = await reader.read();
  if (chunk.done) break;
  for (const line of decoder.decode(chunk.value).split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const payload = line.slice(6);
    if (payload === '[DONE]') {
      done = true;
      break outer;
    }
    try {
      const parsed = JSON.parse(payload);
      events += 1;
      text += parsed.text || '';
    } catch {
      // the guide ignores lines that do not parse
    }
  }
}
console.log(JSON.stringify({ status: response.status, text, done, events }));
