import { useEffect, useState } from 'react';
import { ApiError } from '../api';
import { evalApi, fileFormat, type Dataset, type DatasetRow, type RowProblem } from '../evals';
import { go, href } from '../router';

// One dataset: its rows (add, edit in place, delete), a CSV / JSON Lines file imported
// (bad rows named with their line), the rows exported.
export function DatasetView({ id }: { id: string }) {
  const [d, setD] = useState<Dataset | null>(null);
  const [error, setError] = useState('');
  const [problems, setProblems] = useState<RowProblem[]>([]);
  const [added, setAdded] = useState<number | null>(null);
  const [draft, setDraft] = useState({ input: '', output: '' });
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const load = () => evalApi.dataset(id).then(setD, (e: ApiError) => setError(e.message));
  useEffect(() => {
    load();
  }, [id]);
  if (error && !d) return <p className="notice error page">{error}</p>;
  if (!d) return <p className="loading">Loading…</p>;

  const importFile = async (file: File) => {
    setError('');
    try {
      const result = await evalApi.importRows(d.id, await file.text(), fileFormat(file.name));
      setProblems(result.problems);
      setAdded(result.added);
      load();
    } catch (e) {
      setError((e as ApiError).message);
    }
  };

  return (
    <main className="page dataset-view">
      <p className="crumbs">
        <a href={href({ page: 'evaluations' })} onClick={(ev) => (ev.preventDefault(), go({ page: 'evaluations' }))}>
          ← Evaluations
        </a>
      </p>
      <h1>{d.name}</h1>
      <div className="actions">
        <label className="file-button">
          Import CSV or JSON Lines…
          <input type="file" accept=".csv,.jsonl,.ndjson,.json" aria-label="Import rows" onChange={(e) => e.target.files?.[0] && importFile(e.target.files[0])} />
        </label>
        <a className="button ghost" href={`/api/v1/datasets/set/${encodeURIComponent(d.id)}/export?format=csv`}>
          Export CSV
        </a>
        <a className="button ghost" href={`/api/v1/datasets/set/${encodeURIComponent(d.id)}/export?format=jsonl`}>
          Export JSON Lines
        </a>
        {picked.size > 0 && (
          <button
            type="button"
            className="ghost danger"
            onClick={async () => {
              await evalApi.deleteRows([...picked]);
              setPicked(new Set());
              load();
            }}
          >
            Delete {picked.size}
          </button>
        )}
        <button
          type="button"
          className="ghost danger"
          onClick={async () => {
            if (!confirm(`Delete the dataset ${d.name} and its ${d.rowCount} rows?`)) return;
            await evalApi.deleteDataset(d.id);
            go({ page: 'evaluations' });
          }}
        >
          Delete dataset
        </button>
      </div>
      {added !== null && (
        <p className="notice" aria-label="Import result">
          {added} rows imported{problems.length ? `; ${problems.length} not:` : '.'}
          {problems.length > 0 && (
            <ul>
              {problems.map((p) => (
                <li key={p.line}>
                  line {p.line}: {p.reason}
                </li>
              ))}
            </ul>
          )}
        </p>
      )}
      {error && <p className="notice error">{error}</p>}
      <p className="hint">
        A file's columns: <code>question</code> (or <code>input</code>), <code>expected</code> (or <code>output</code>), optionally <code>history</code> and{' '}
        <code>form</code> as JSON; other columns are kept as metadata.
      </p>
      <table className="runs dataset-rows">
        <thead>
          <tr>
            <th />
            <th>#</th>
            <th>Question</th>
            <th>Expected answer</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(d.rows ?? []).map((r) => (
            <RowEditor
              key={r.id}
              row={r}
              picked={picked.has(r.id)}
              onPick={(on) => {
                const next = new Set(picked);
                if (on) next.add(r.id);
                else next.delete(r.id);
                setPicked(next);
              }}
              onSaved={load}
            />
          ))}
          <tr className="new-row">
            <td />
            <td>+</td>
            <td>
              <textarea rows={2} placeholder="A question" aria-label="New question" value={draft.input} onChange={(e) => setDraft({ ...draft, input: e.target.value })} />
            </td>
            <td>
              <textarea rows={2} placeholder="The answer expected (optional)" aria-label="New expected answer" value={draft.output} onChange={(e) => setDraft({ ...draft, output: e.target.value })} />
            </td>
            <td>
              <button
                type="button"
                disabled={!draft.input.trim()}
                onClick={async () => {
                  await evalApi.addRow(d.id, draft.input, draft.output);
                  setDraft({ input: '', output: '' });
                  load();
                }}
              >
                Add row
              </button>
            </td>
          </tr>
        </tbody>
      </table>
    </main>
  );
}

function RowEditor({ row, picked, onPick, onSaved }: { row: DatasetRow; picked: boolean; onPick: (on: boolean) => void; onSaved: () => void }) {
  const [input, setInput] = useState(row.input);
  const [output, setOutput] = useState(row.output ?? '');
  const dirty = input !== row.input || output !== (row.output ?? '');
  return (
    <tr>
      <td>
        <input type="checkbox" aria-label={`Select row ${row.sequenceNo}`} checked={picked} onChange={(e) => onPick(e.target.checked)} />
      </td>
      <td>{row.sequenceNo}</td>
      <td>
        <textarea rows={2} value={input} onChange={(e) => setInput(e.target.value)} aria-label={`Question ${row.sequenceNo}`} />
      </td>
      <td>
        <textarea rows={2} value={output} onChange={(e) => setOutput(e.target.value)} aria-label={`Expected ${row.sequenceNo}`} />
      </td>
      <td>
        {dirty && (
          <button type="button" onClick={() => evalApi.updateRow(row.id, input, output).then(onSaved)}>
            Save
          </button>
        )}
      </td>
    </tr>
  );
}
