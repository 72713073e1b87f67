import { useEffect, useState } from 'react';
import { api, ApiError, type Version, type VersionDiff } from '../api';
import { shown } from '../executions';
import type { CanvasRow } from '../types';

/** The nodes a diff touches (added, removed or with an input changed). */
export function touched(d: VersionDiff): Set<string> {
  return new Set([
    ...d.nodesAdded.map((n) => n.nodeId),
    ...d.nodesRemoved.map((n) => n.nodeId),
    ...d.inputsChanged.map((c) => c.nodeId),
  ]);
}

// Every save of the canvas's flow is a version: compare one with the latest (the
// changed nodes are marked on the canvas), restore it, or publish it (predictions are
// answered with the published version; the test panel runs the latest).
export function VersionHistory({
  canvas,
  onChanged,
  onCompare,
}: {
  canvas: CanvasRow;
  onChanged: () => void;
  onCompare: (nodeIds: Set<string>) => void;
}) {
  const [versions, setVersions] = useState<Version[]>([]);
  const [diff, setDiff] = useState<VersionDiff | null>(null);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api.versions(canvas.id).then(setVersions, (e: ApiError) => setNotice(e.message));
  }, [canvas]);
  const latest = versions.find((v) => v.latest)?.number ?? canvas.version ?? 1;
  const act = async (what: () => Promise<unknown>, said: string) => {
    try {
      await what();
      setNotice(said);
      setDiff(null);
      onCompare(new Set());
      onChanged();
    } catch (e) {
      setNotice(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <div className="history">
      <h2>History</h2>
      <p className="hint">
        {canvas.published
          ? `Predictions are answered with version ${canvas.published}; the test panel runs the latest (${latest}).`
          : 'Predictions are answered with the latest version.'}
      </p>
      {canvas.published !== null && canvas.published !== undefined && (
        <button type="button" className="ghost" onClick={() => act(() => api.publish(canvas.id, null), 'The latest version serves.')}>
          Serve the latest
        </button>
      )}
      <ol className="versions">
        {versions.map((v) => (
          <li key={v.number} data-version={v.number}>
            <div className="version-head">
              <strong>v{v.number}</strong>
              {v.latest && <span className="badge">latest</span>}
              {v.published && <span className="badge ok">published</span>}
              <span className="hint">
                {new Date(v.createdDate).toLocaleString()}
                {v.author ? ` · ${v.author}` : ''} · {v.nodes} nodes
              </span>
            </div>
            {v.message && <div className="version-message">{v.message}</div>}
            <div className="row">
              {!v.latest && (
                <button
                  type="button"
                  className="ghost"
                  onClick={async () => {
                    const d = await api.versionDiff(canvas.id, v.number, latest);
                    setDiff(d);
                    onCompare(touched(d));
                  }}
                >
                  Compare with latest
                </button>
              )}
              {!v.latest && (
                <button type="button" className="ghost" onClick={() => act(() => api.restoreVersion(canvas.id, v.number), `Version ${v.number} restored as the latest.`)}>
                  Restore
                </button>
              )}
              {!v.published && (
                <button type="button" className="ghost" onClick={() => act(() => api.publish(canvas.id, v.number), `Version ${v.number} is published.`)}>
                  Publish
                </button>
              )}
            </div>
          </li>
        ))}
      </ol>
      {diff && (
        <div className="diff" aria-label="Differences">
          <h3>
            v{diff.old} → v{diff.new}
          </h3>
          {diff.nameChanged && <p>The name changed.</p>}
          {diff.nodesAdded.map((n) => (
            <p key={`a${n.nodeId}`} className="added">+ {n.label ?? n.name} <code>{n.nodeId}</code></p>
          ))}
          {diff.nodesRemoved.map((n) => (
            <p key={`r${n.nodeId}`} className="removed">− {n.label ?? n.name} <code>{n.nodeId}</code></p>
          ))}
          {diff.inputsChanged.length > 0 && (
            <table className="changes">
              <thead>
                <tr>
                  <th>Node · input</th>
                  <th>v{diff.old}</th>
                  <th>v{diff.new}</th>
                </tr>
              </thead>
              <tbody>
                {diff.inputsChanged.map((c) => (
                  <tr key={`${c.nodeId}.${c.input}`}>
                    <td>
                      <code>{c.nodeId}</code> · {c.input}
                    </td>
                    <td>
                      <pre className="wrap">{shown(c.old) || '—'}</pre>
                    </td>
                    <td>
                      <pre className="wrap">{shown(c.new) || '—'}</pre>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {diff.edgesAdded.length + diff.edgesRemoved.length > 0 && (
            <p className="hint">
              {diff.edgesAdded.length} connection(s) added, {diff.edgesRemoved.length} removed.
            </p>
          )}
          {touched(diff).size === 0 && !diff.nameChanged && diff.edgesAdded.length + diff.edgesRemoved.length === 0 && (
            <p className="hint">Only positions differ.</p>
          )}
        </div>
      )}
      {notice && <p className="notice">{notice}</p>}
    </div>
  );
}
