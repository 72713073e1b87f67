import { describe, expect, it } from 'vitest';
import { desktopSnippet, pythonSnippet, type McpConfig } from '../src/mcp';

const cfg: McpConfig = {
  enabled: true,
  toolName: 'capital_finder',
  description: 'Finds capitals',
  token: '',
  url: 'http://127.0.0.1:3000/api/v1/mcp/abc',
};

describe('MCP snippets', () => {
  it('configure Claude Desktop and Cursor through mcp-remote with the token', () => {
    const parsed = JSON.parse(desktopSnippet(cfg, 'tok'));
    expect(parsed.mcpServers.capital_finder.args).toEqual([
      '-y',
      'mcp-remote',
      cfg.url,
      '--header',
      'Authorization: Bearer tok',
    ]);
  });
  it('say where the token goes when it is not shown', () => {
    expect(desktopSnippet(cfg, '')).toContain('<your token>');
  });
  it('call the tool with the Python SDK', () => {
    const code = pythonSnippet(cfg, 'tok');
    expect(code).toContain(`streamable_http_client("${cfg.url}"`);
    expect(code).toContain('session.call_tool("capital_finder"');
    expect(code).toContain('"Bearer tok"');
  });
});
