// The official TypeScript SDK's MCP client against a canvas served as an MCP server:
// list its tools, call one, collect the progress notifications. Prints one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, toolName] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "canvasflow-test", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const progress = [];
const result = await client.callTool(
  { name: toolName, arguments: { question: "hi" } },
  undefined,
  { onprogress: (p) => progress.push(p.message ?? "") },
);
await client.close();
console.log(JSON.stringify({
  tools: tools.map((t) => t.name),
  text: result.content[0].text,
  progress,
}));
