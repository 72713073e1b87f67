import { useEffect, useState } from 'react';
import { api, ApiError } from '../api';
import {
  describe,
  evalApi,
  percent,
  progress,
  running,
  type Dataset,
  type Evaluation,
  type Evaluator,
  type EvaluatorCatalog,
} from '../evals';
import { go, href } from '../router';
import type { CanvasRow } from '../types';

type Tab = 'runs' | 'datasets' | 'evaluators';
// builtin evaluators a run may pick without saving one (the server's short names)
const BUILTINS: [string, string][] = [
  ['contains', 'contains the expected answer'],
  ['exact', 'is the expected answer'],
  ['similarity', 'means the expected answer (similarity ≥ 0.8)'],
];

// Evaluations: runs of a canvas's versions over a dataset, the datasets, the evaluators.
export function Evaluations() {
  const [tab, setTab] = useState<Tab>('runs');
  return (
    <main className="page evaluations">
      <h1>Evaluations</h1>
      <nav className="tabs" aria-label="Evaluation pages">
        {(['runs', 'datasets', 'evaluators'] as Tab[]).map((t) => (
          <button key={t} type="button" className={tab === t ? 'active' : 'ghost'} onClick={() => setTab(t)}>
            {t === 'runs' ? 'Runs' : t === 'datasets' ? 'Datasets' : 'Evaluators'}
          </button>
        ))}
      </nav>
      {tab === 'runs' && <Runs />}
      {tab === 'datasets' && <Datasets />}
      {tab === 'evaluators' && <Evaluators />}
    </main>
  );
}

function Runs() {
  const [runs, setRuns] = useState<Evaluation[] | null>(null);
  const [canvases, setCanvases] = useState<CanvasRow[]>([]);
  const [datasets, setDatasets] = useState<Dataset[]>([]);
  const [evaluators, setEvaluators] = useState<Evaluator[]>([]);
  const [versions, setVersions] = useState<number[]>([]);
  const [form, setForm] = useState({ canvasId: '', datasetId: '', versions: [] as number[], evaluators: [] as string[], concurrency: 4 });
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);

  useEffect(() => {
    api.canvases().then(setCanvases, () => setCanvases([]));
    evalApi.datasets().then(setDatasets, () => setDatasets([]));
    evalApi.evaluators().then(setEvaluators, () => setEvaluators([]));
  }, []);
  useEffect(() => {
    evalApi.evaluations().then(setRuns, (e: ApiError) => setError(e.message));
  }, [tick]);
  useEffect(() => {
    if (!runs?.some(running)) return;
    const timer = setTimeout(() => setTick((t) => t + 1), 1000);
    return () => clearTimeout(timer);
  }, [runs]);
  useEffect(() => {
    if (!form.canvasId) return setVersions([]);
    api.versions(form.canvasId).then((v) => setVersions(v.map((x) => x.number)), () => setVersions([]));
  }, [form.canvasId]);

  const start = async () => {
    setError('');
    try {
      const e = await evalApi.startEvaluation(form);
      go({ page: 'evaluation', id: e.id });
    } catch (e) {
      setError((e as ApiError).message);
    }
  };
  const toggle = <T,>(list: T[], item: T) => (list.includes(item) ? list.filter((x) => x !== item) : [...list, item]);

  return (
    <>
      <form className="eval-form" aria-label="New run" onSubmit={(e) => (e.preventDefault(), start())}>
        <h2>New run</h2>
        <label>
          Canvas
          <select value={form.canvasId} onChange={(e) => setForm({ ...form, canvasId: e.target.value, versions: [] })}>
            <option value="">Pick a canvas…</option>
            {canvases.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        {versions.length > 0 && (
          <fieldset className="versions">
            <legend>Versions (none ticked: the one it serves)</legend>
            {versions.map((n) => (
              <label key={n} className="check">
                <input type="checkbox" checked={form.versions.includes(n)} onChange={() => setForm({ ...form, versions: toggle(form.versions, n) })} />
                v{n}
              </label>
            ))}
          </fieldset>
        )}
        <label>
          Dataset
          <select value={form.datasetId} onChange={(e) => setForm({ ...form, datasetId: e.target.value })}>
            <option value="">Pick a dataset…</option>
            {datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.rowCount} rows)
              </option>
            ))}
          </select>
        </label>
        <fieldset className="picked-evaluators">
          <legend>Evaluators (none ticked: contains the expected answer)</legend>
          {BUILTINS.map(([ref, label]) => (
            <label key={ref} className="check">
              <input type="checkbox" checked={form.evaluators.includes(ref)} onChange={() => setForm({ ...form, evaluators: toggle(form.evaluators, ref) })} />
              {label}
            </label>
          ))}
          {evaluators.map((e) => (
            <label key={e.id} className="check" title={describe(e)}>
              <input
                type="checkbox"
                checked={form.evaluators.includes(e.id!)}
                onChange={() => setForm({ ...form, evaluators: toggle(form.evaluators, e.id!) })}
              />
              {e.name}
            </label>
          ))}
          {evaluators.length === 0 && <span className="hint">Your saved evaluators are listed here too (the Evaluators tab).</span>}
        </fieldset>
        <label>
          At once
          <input type="number" min={1} max={32} value={form.concurrency} onChange={(e) => setForm({ ...form, concurrency: Number(e.target.value) })} />
        </label>
        <button type="submit" disabled={!form.canvasId || !form.datasetId}>
          Run
        </button>
      </form>
      {error && <p className="notice error">{error}</p>}
      {runs && runs.length === 0 && (
        <p className="empty">No runs yet. Make a dataset of questions, then run a canvas over it to see how each version answers.</p>
      )}
      {runs && runs.length > 0 && (
        <table className="runs eval-runs">
          <thead>
            <tr>
              <th>Started</th>
              <th>Run</th>
              <th>Canvas</th>
              <th>Versions</th>
              <th>Dataset</th>
              <th>Status</th>
              <th>Pass rate</th>
              <th>p95</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} className="clickable" onClick={() => go({ page: 'evaluation', id: r.id })}>
                <td>
                  <a href={href({ page: 'evaluation', id: r.id })} onClick={(e) => e.preventDefault()}>
                    {new Date(r.createdDate).toLocaleString()}
                  </a>
                </td>
                <td>{r.name}</td>
                <td>{r.canvasName ?? r.canvasId}</td>
                <td>{r.versions.map((v) => `v${v}`).join(', ')}</td>
                <td>{r.datasetName}</td>
                <td>
                  <span className={`status ${r.status}`}>{running(r) ? `${Math.round(progress(r) * 100)}%` : r.status}</span>
                </td>
                <td>{percent(r.summary?.passRate)}</td>
                <td>{r.summary?.latencyMs.p95 != null ? `${r.summary.latencyMs.p95} ms` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Datasets() {
  const [list, setList] = useState<Dataset[] | null>(null);
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const load = () => evalApi.datasets().then(setList, (e: ApiError) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  return (
    <>
      <form
        className="inline-form"
        aria-label="New dataset"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const d = await evalApi.createDataset(name.trim());
            go({ page: 'dataset', id: d.id });
          } catch (err) {
            setError((err as ApiError).message);
          }
        }}
      >
        <input placeholder="New dataset's name" value={name} onChange={(e) => setName(e.target.value)} aria-label="Dataset name" />
        <button type="submit" disabled={!name.trim()}>
          Create
        </button>
      </form>
      {error && <p className="notice error">{error}</p>}
      {list && list.length === 0 && <p className="empty">No datasets yet: create one, then add questions or import a CSV or JSON Lines file.</p>}
      {list && list.length > 0 && (
        <table className="runs">
          <thead>
            <tr>
              <th>Name</th>
              <th>Rows</th>
              <th>Updated</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.id} className="clickable" onClick={() => go({ page: 'dataset', id: d.id })}>
                <td>
                  <a href={href({ page: 'dataset', id: d.id })} onClick={(e) => e.preventDefault()}>
                    {d.name}
                  </a>
                </td>
                <td>{d.rowCount}</td>
                <td>{new Date(d.updatedDate).toLocaleString()}</td>
                <td>{d.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const EMPTY: Evaluator = { name: '', type: 'text', operator: 'Contains' };

function Evaluators() {
  const [list, setList] = useState<Evaluator[] | null>(null);
  const [catalog, setCatalog] = useState<EvaluatorCatalog | null>(null);
  const [form, setForm] = useState<Evaluator>(EMPTY);
  const [error, setError] = useState('');
  const load = () => evalApi.evaluators().then(setList, (e: ApiError) => setError(e.message));
  useEffect(() => {
    load();
    evalApi.catalog().then(setCatalog, () => setCatalog(null));
  }, []);
  if (!catalog) return null;
  const operators = form.type === 'text' ? catalog.textOperators : form.type === 'json' ? catalog.jsonOperators : catalog.numericOperators;
  const setType = (type: Evaluator['type']) =>
    setForm({
      name: form.name,
      type,
      operator: type === 'text' ? 'Contains' : type === 'json' ? 'IsValidJSON' : type === 'numeric' ? 'lessThan' : null,
      measure: type === 'numeric' ? 'latency' : null,
      prompt: type === 'llm' ? catalog.judgePrompt : null,
      rubric: type === 'llm' ? catalog.judgeRubric : null,
      model: type === 'llm' ? catalog.judgeModel : null,
      value: type === 'similarity' ? '0.8' : null,
    });
  const needsValue =
    (form.type === 'text' && !['ExactMatch', 'Contains', 'NotContains'].includes(form.operator ?? '')) ||
    form.type === 'numeric' ||
    form.type === 'similarity' ||
    form.operator === 'MatchesSchema';
  return (
    <div className="evaluators-tab">
      <form
        className="eval-form evaluator-form"
        aria-label="New evaluator"
        onSubmit={async (e) => {
          e.preventDefault();
          setError('');
          try {
            await evalApi.createEvaluator(form);
            setForm(EMPTY);
            load();
          } catch (err) {
            setError((err as ApiError).message);
          }
        }}
      >
        <h2>New evaluator</h2>
        <label>
          Name
          <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} aria-label="Evaluator name" />
        </label>
        <label>
          Type
          <select value={form.type} onChange={(e) => setType(e.target.value as Evaluator['type'])} aria-label="Evaluator type">
            <option value="text">Text</option>
            <option value="json">JSON</option>
            <option value="numeric">Numbers (latency, tokens, cost)</option>
            <option value="similarity">Semantic similarity</option>
            <option value="llm">LLM judge</option>
          </select>
        </label>
        {form.type === 'numeric' && (
          <label>
            Measure
            <select value={form.measure ?? ''} onChange={(e) => setForm({ ...form, measure: e.target.value })}>
              {catalog.measures.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
        )}
        {(form.type === 'text' || form.type === 'json' || form.type === 'numeric') && (
          <label>
            Check
            <select value={form.operator ?? ''} onChange={(e) => setForm({ ...form, operator: e.target.value })} aria-label="Operator">
              {operators.map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
          </label>
        )}
        {needsValue && (
          <label className={form.operator === 'MatchesSchema' ? 'wide' : ''}>
            {form.type === 'similarity' ? 'Threshold (0 to 1)' : form.operator === 'MatchesSchema' ? 'JSON Schema' : 'Value'}
            {form.operator === 'MatchesSchema' ? (
              <textarea rows={4} value={form.value ?? ''} onChange={(e) => setForm({ ...form, value: e.target.value })} />
            ) : (
              <input value={form.value ?? ''} onChange={(e) => setForm({ ...form, value: e.target.value })} aria-label="Value" />
            )}
          </label>
        )}
        {form.type === 'llm' && (
          <>
            <label className="wide">
              Rubric
              <input value={form.rubric ?? ''} onChange={(e) => setForm({ ...form, rubric: e.target.value })} aria-label="Rubric" />
            </label>
            <label className="wide">
              Judge model (a chat model node and its inputs, as JSON)
              <input
                defaultValue={JSON.stringify(form.model)}
                aria-label="Judge model"
                onBlur={(e) => {
                  try {
                    setForm({ ...form, model: JSON.parse(e.target.value) });
                  } catch {
                    setError('the judge model is not JSON');
                  }
                }}
              />
            </label>
            <label className="wide">
              The judge's prompt ({'{question}'}, {'{expected}'}, {'{answer}'}, {'{rubric}'} are filled in)
              <textarea rows={10} value={form.prompt ?? ''} onChange={(e) => setForm({ ...form, prompt: e.target.value })} aria-label="Judge prompt" />
            </label>
          </>
        )}
        <button type="submit" disabled={!form.name.trim()}>
          Save evaluator
        </button>
      </form>
      {error && <p className="notice error">{error}</p>}
      {list && list.length === 0 && <p className="empty">No saved evaluators. Runs use “contains the expected answer” when none is picked.</p>}
      {list && list.length > 0 && (
        <ul className="evaluator-list">
          {list.map((e) => (
            <li key={e.id}>
              <strong>{e.name}</strong> <span className="tag">{e.type}</span> <span className="hint">{describe(e)}</span>
              <button
                type="button"
                className="ghost danger"
                onClick={async () => {
                  if (!confirm(`Delete the evaluator ${e.name}?`)) return;
                  await evalApi.deleteEvaluator(e.id!);
                  load();
                }}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
