// A canvas served as an MCP server: its configuration as the server answers it, and the
// snippets a user pastes into an MCP client.
import type { SchemaMcpServerConfig } from './api-types';

// the server's shape, generated from its OpenAPI schema (scripts/api-types.sh); the
// token is given only right after it was made or rotated
export type McpConfig = SchemaMcpServerConfig;

/** Claude Desktop's and Cursor's configuration (through mcp-remote, as they speak stdio). */
export function desktopSnippet(cfg: McpConfig, token: string): string {
  const entry = {
    command: 'npx',
    args: ['-y', 'mcp-remote', cfg.url, '--header', `Authorization: Bearer ${token || '<your token>'}`],
  };
  return JSON.stringify({ mcpServers: { [cfg.toolName]: entry } }, null, 2);
}

/** The official Python SDK's client, calling the canvas's tool once. */
export function pythonSnippet(cfg: McpConfig, token: string): string {
  return [
    'import asyncio',
    '',
    'import httpx',
    'from mcp import ClientSession',
    'from mcp.client.streamable_http import streamable_http_client',
    '',
    '',
    'async def main() -> None:',
    `    headers = {"Authorization": "Bearer ${token || '<your token>'}"}`,
    '    async with (',
    '        httpx.AsyncClient(headers=headers, timeout=120) as http,',
    `        streamable_http_client("${cfg.url}", http_client=http) as (read, write, _),`,
    '        ClientSession(read, write) as session,',
    '    ):',
    '        await session.initialize()',
    `        result = await session.call_tool("${cfg.toolName}", {"question": "Hello"})`,
    '        print(result.content[0].text)',
    '',
    '',
    'asyncio.run(main())',
  ].join('\n');
}
