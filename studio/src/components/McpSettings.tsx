import { useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import { desktopSnippet, pythonSnippet, type McpConfig } from '../mcp';
import type { CanvasRow } from '../types';

// The canvas as an MCP server: on or off, its tool's name and description, its URL, its
// token (shown once, when made or rotated) and what to paste into an MCP client.
export function McpSettings({ canvas }: { canvas: CanvasRow }) {
  const [cfg, setCfg] = useState<McpConfig | null>(null);
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [notice, setNotice] = useState('');
  const show = (c: McpConfig) => {
    setCfg(c);
    setName(c.toolName);
    setDescription(c.description);
    if (c.token) setToken(c.token);
  };
  useEffect(() => {
    api.mcpServer(canvas.id).then(show, () => setCfg(null));
  }, [canvas.id]);
  const act = async (what: () => Promise<McpConfig | void>, done: string) => {
    try {
      const c = await what();
      if (c) show(c);
      else show(await api.mcpServer(canvas.id));
      setNotice(done);
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err));
    }
  };
  if (!cfg) return null;
  return (
    <fieldset className="mcp">
      <legend>MCP server</legend>
      <p className="hint">
        Claude, Cursor or any MCP client can call this canvas as a tool (Streamable HTTP, the answer streamed as
        progress).
      </p>
      {!cfg.enabled ? (
        <button type="button" onClick={() => act(() => api.enableMcp(canvas.id), 'Serving as an MCP server.')}>
          Serve as an MCP server
        </button>
      ) : (
        <>
          <label>
            Tool name
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Tool description
            <textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
          </label>
          <div className="row">
            <button
              type="button"
              onClick={() =>
                act(() => api.updateMcp(canvas.id, { toolName: name, description }), 'MCP tool saved.')
              }
            >
              Save tool
            </button>
            <button
              type="button"
              className="ghost"
              onClick={() => act(() => api.rotateMcp(canvas.id), 'New token: the old one no longer works.')}
            >
              Rotate token
            </button>
            <button
              type="button"
              className="ghost"
              onClick={() => act(() => api.disableMcp(canvas.id), 'No longer an MCP server.')}
            >
              Stop serving
            </button>
          </div>
          <p>
            URL <code className="mcp-url">{cfg.url}</code>
          </p>
          {token ? (
            <p className="fresh-key">
              Token (copy it now, it is shown once): <code className="mcp-token">{token}</code>
            </p>
          ) : (
            <p className="hint">The token was shown when it was made; rotate it to get a new one.</p>
          )}
          <p className="hint">Claude Desktop or Cursor (their MCP servers file):</p>
          <pre className="embed-snippet mcp-desktop">{desktopSnippet(cfg, token)}</pre>
          <p className="hint">Python (the official mcp SDK):</p>
          <pre className="embed-snippet mcp-python">{pythonSnippet(cfg, token)}</pre>
        </>
      )}
      {notice && <p className="notice mcp-notice">{notice}</p>}
    </fieldset>
  );
}
