import { useEffect, useState } from 'react';
import { ApiError } from '../api';
import { LatencyHistogram, ScoreByVersion } from '../components/EvalCharts';
import { describe, evalApi, percent, progress, running, type Comparison, type EvalRow, type Evaluation } from '../evals';
import { go, href } from '../router';

// One run: its progress while it runs, its summary and charts, every row with its
// verdicts; run it again (saying what changed), compare it with another run or its
// versions with each other.
export function EvaluationView({ id }: { id: string }) {
  const [e, setE] = useState<Evaluation | null>(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const [outdated, setOutdated] = useState<string[]>([]);
  const [others, setOthers] = useState<Evaluation[]>([]);
  const [against, setAgainst] = useState('');
  const [cmp, setCmp] = useState<Comparison | null>(null);

  useEffect(() => {
    evalApi.evaluation(id).then(setE, (err: ApiError) => setError(err.message));
  }, [id, tick]);
  useEffect(() => {
    if (!e || !running(e)) return;
    const timer = setTimeout(() => setTick((t) => t + 1), 700);
    return () => clearTimeout(timer);
  }, [e]);
  const finished = e !== null && !running(e);
  useEffect(() => {
    if (!finished) return;
    evalApi.outdated(id).then((o) => setOutdated(o.changes), () => setOutdated([]));
    evalApi.evaluations().then((all) => setOthers(all.filter((x) => x.canvasId === e!.canvasId && !running(x))), () => setOthers([]));
  }, [finished, id]);

  if (error) return <p className="notice error page">{error}</p>;
  if (!e) return <p className="loading">Loading…</p>;
  const s = e.summary;
  const versionPair = e.versions.length >= 2 ? [e.versions[0], e.versions[e.versions.length - 1]] : null;

  const compareWith = async (value: string) => {
    setAgainst(value);
    setCmp(null);
    if (!value) return;
    try {
      if (value === 'versions' && versionPair) setCmp(await evalApi.compare(e.id, e.id, versionPair[0], versionPair[1]));
      else setCmp(await evalApi.compare(value, e.id));
    } catch (err) {
      setError((err as ApiError).message);
    }
  };

  return (
    <main className="page evaluation-view">
      <p className="crumbs">
        <a href={href({ page: 'evaluations' })} onClick={(ev) => (ev.preventDefault(), go({ page: 'evaluations' }))}>
          ← Evaluations
        </a>
      </p>
      <h1>
        {e.name} <span className={`status ${e.status}`}>{e.status}</span>
      </h1>
      <p className="meta">
        {e.canvasName} · versions {e.versions.map((v) => `v${v}`).join(', ')} · dataset {e.datasetName} · {e.concurrency} at once ·
        evaluators: {e.evaluators.map((x) => `${x.name} (${describe(x)})`).join('; ') || 'none'}
      </p>
      {(e.changes ?? []).length > 0 && (
        <div className="notice" aria-label="Changes since the earlier run">
          <strong>Since the run this one repeats:</strong>
          <ul>
            {(e.changes ?? []).map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
        </div>
      )}
      {running(e) && (
        <div className="progress" aria-label="Progress">
          <div className="bar-fill" style={{ width: `${progress(e) * 100}%` }} />
          <span>
            {e.done} of {e.total} answered
          </span>
          <button type="button" className="ghost danger" onClick={() => evalApi.abortEvaluation(e.id).then(setE)}>
            Abort
          </button>
        </div>
      )}
      {e.error && <p className="notice error">{e.error}</p>}
      {s && (
        <section className="summary" aria-label="Summary">
          <div className="figures">
            <div>
              <b>{percent(s.passRate)}</b>pass rate
            </div>
            <div>
              <b>
                {s.passed}/{s.rows}
              </b>
              passed
            </div>
            <div>
              <b>{s.failed}</b>failed
            </div>
            <div>
              <b>{s.errors}</b>errors
            </div>
            <div>
              <b>{s.meanScore ?? '–'}</b>mean score
            </div>
            <div>
              <b>{s.latencyMs.p95 ?? '–'} ms</b>latency p95
            </div>
            <div>
              <b>{s.tokens.total}</b>tokens
            </div>
            {s.cost !== null && (
              <div>
                <b>${s.cost.toFixed(4)}</b>cost
              </div>
            )}
          </div>
          <div className="charts">
            <ScoreByVersion summary={s} />
            <LatencyHistogram summary={s} />
          </div>
        </section>
      )}
      {finished && (
        <div className="actions">
          <button type="button" onClick={() => evalApi.runAgain(e.id, false).then((n) => go({ page: 'evaluation', id: n.id }))}>
            Run again
          </button>
          {outdated.some((c) => c.startsWith('the canvas has version')) && (
            <button type="button" className="ghost" onClick={() => evalApi.runAgain(e.id, true).then((n) => go({ page: 'evaluation', id: n.id }))}>
              Run again on the latest version
            </button>
          )}
          {outdated.length > 0 && <span className="hint outdated">Changed since: {outdated.join('; ')}</span>}
          <label>
            Compare with
            <select value={against} onChange={(ev) => compareWith(ev.target.value)} aria-label="Compare with">
              <option value="">—</option>
              {versionPair && (
                <option value="versions">
                  v{versionPair[0]} against v{versionPair[1]} in this run
                </option>
              )}
              {others
                .filter((o) => o.id !== e.id)
                .map((o) => (
                  <option key={o.id} value={o.id}>
                    {new Date(o.createdDate).toLocaleString()} · v{o.versions.join(', v')} · {percent(o.summary?.passRate)}
                  </option>
                ))}
            </select>
          </label>
        </div>
      )}
      {cmp ? <CompareTable cmp={cmp} /> : <Rows rows={e.rows ?? []} />}
    </main>
  );
}

function Rows({ rows }: { rows: EvalRow[] }) {
  if (rows.length === 0) return null;
  return (
    <table className="runs eval-rows">
      <thead>
        <tr>
          <th>#</th>
          <th>v</th>
          <th>Question</th>
          <th>Expected</th>
          <th>Answer</th>
          <th>Verdicts</th>
          <th>ms</th>
          <th>Outcome</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.id} data-outcome={r.outcome}>
            <td>{r.sequenceNo}</td>
            <td>v{r.version}</td>
            <td className="question">{r.input}</td>
            <td className="question">{r.expected}</td>
            <td className="question">
              {r.answer}
              {r.error && <div className="error-text">{r.error}</div>}
            </td>
            <td>
              {r.verdicts.map((v) => (
                <span key={v.name} className={`verdict ${v.result}`} title={v.detail ?? ''}>
                  {v.name}: {v.result}
                  {v.score != null ? ` ${v.score}` : ''}
                </span>
              ))}
            </td>
            <td>{r.latencyMs}</td>
            <td>
              {r.executionId ? (
                <a href={href({ page: 'execution', id: r.executionId })} className={`status ${outcomeClass(r.outcome)}`}>
                  {r.outcome}
                </a>
              ) : (
                <span className={`status ${outcomeClass(r.outcome)}`}>{r.outcome}</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const outcomeClass = (o: string) => (o === 'passed' ? 'completed' : o === 'failed' ? 'error' : 'aborted');

function CompareTable({ cmp }: { cmp: Comparison }) {
  const changed = cmp.rows.filter((r) => r.change !== 'same').length;
  return (
    <section aria-label="Comparison">
      <p className="hint">
        {changed} of {cmp.rows.length} rows changed outcome; those that got worse come first.
      </p>
      <table className="runs compare-rows">
        <thead>
          <tr>
            <th>#</th>
            <th>Question</th>
            <th>Change</th>
            <th>Before (v{cmp.rows[0]?.a?.version ?? '?'})</th>
            <th>After (v{cmp.rows[0]?.b?.version ?? '?'})</th>
          </tr>
        </thead>
        <tbody>
          {cmp.rows.map((r) => (
            <tr key={r.rowId} data-change={r.change}>
              <td>{r.sequenceNo}</td>
              <td className="question">{r.input}</td>
              <td>
                <span className={`change ${r.change}`}>{r.change}</span>
              </td>
              <td className="question">
                <span className={`status ${outcomeClass(r.a?.outcome ?? '')}`}>{r.a?.outcome ?? '—'}</span> {r.a?.answer}
              </td>
              <td className="question">
                <span className={`status ${outcomeClass(r.b?.outcome ?? '')}`}>{r.b?.outcome ?? '—'}</span> {r.b?.answer}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
