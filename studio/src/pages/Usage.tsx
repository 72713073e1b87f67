import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError, type UsageData } from '../api';

type Series = { label: string; values: (number | null)[]; colour: string };

// one time-series chart (uPlot), a day per point
function Chart({ title, days, series, unit }: { title: string; days: string[]; series: Series[]; unit: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const plot = new uPlot(
      {
        width: Math.max(280, box.current.clientWidth),
        height: 180,
        scales: { x: { time: true } },
        axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor', label: unit }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, points: { show: days.length < 40 } }))],
      },
      [xs, ...series.map((s) => s.values)] as uPlot.AlignedData,
      box.current,
    );
    return () => plot.destroy();
  }, [days, series, unit]);
  return (
    <figure className="usage-chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

// Usage at a glance, of one canvas or of all: per day, predictions and errors, tokens in
// and out, p50/p95 latency and time to first token (from the record of every run).
export function UsageCharts({ canvasId }: { canvasId?: string }) {
  const [days, setDays] = useState(30);
  const [data, setData] = useState<UsageData | null>(null);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api.usage(canvasId, days).then(setData, (e: ApiError) => setNotice(e.message));
  }, [canvasId, days]);
  if (!data) return <p className="loading">{notice || 'Loading the usage…'}</p>;
  const dates = data.days.map((d) => d.date);
  const t = data.total;
  return (
    <section className="usage">
      <div className="usage-head">
        <dl className="usage-totals">
          <dt>Predictions</dt>
          <dd data-total="predictions">{t.predictions}</dd>
          <dt>Errors</dt>
          <dd data-total="errors">{t.errors}</dd>
          <dt>Tokens in / out</dt>
          <dd>
            {t.promptTokens} / {t.completionTokens}
          </dd>
          <dt>Latency p50 / p95</dt>
          <dd>
            {t.latencyP50 ?? '–'} / {t.latencyP95 ?? '–'} ms
          </dd>
          <dt>First token p50 / p95</dt>
          <dd>
            {t.ttftP50 ?? '–'} / {t.ttftP95 ?? '–'} ms
          </dd>
        </dl>
        <select aria-label="Period" value={days} onChange={(e) => setDays(Number(e.target.value))}>
          <option value={7}>Last 7 days</option>
          <option value={30}>Last 30 days</option>
          <option value={90}>Last 90 days</option>
        </select>
      </div>
      {t.predictions === 0 && <p className="empty">No predictions in this period yet.</p>}
      <div className="usage-charts">
        <Chart
          title="Predictions and errors"
          unit="per day"
          days={dates}
          series={[
            { label: 'Predictions', values: data.days.map((d) => d.predictions), colour: '#4f46e5' },
            { label: 'Errors', values: data.days.map((d) => d.errors), colour: '#c62828' },
          ]}
        />
        <Chart
          title="Tokens"
          unit="per day"
          days={dates}
          series={[
            { label: 'In', values: data.days.map((d) => d.promptTokens), colour: '#0891b2' },
            { label: 'Out', values: data.days.map((d) => d.completionTokens), colour: '#16a34a' },
          ]}
        />
        <Chart
          title="Latency"
          unit="ms"
          days={dates}
          series={[
            { label: 'p50', values: data.days.map((d) => d.latencyP50 ?? null), colour: '#7c3aed' },
            { label: 'p95', values: data.days.map((d) => d.latencyP95 ?? null), colour: '#db2777' },
          ]}
        />
        <Chart
          title="Time to first token"
          unit="ms"
          days={dates}
          series={[
            { label: 'p50', values: data.days.map((d) => d.ttftP50 ?? null), colour: '#ea580c' },
            { label: 'p95', values: data.days.map((d) => d.ttftP95 ?? null), colour: '#b45309' },
          ]}
        />
      </div>
      {notice && <p className="notice">{notice}</p>}
    </section>
  );
}

export function Usage() {
  return (
    <main className="list-page usage-page">
      <h2>Usage</h2>
      <p className="hint">Every canvas, per day: a canvas's own usage is on its Messages page.</p>
      <UsageCharts />
    </main>
  );
}
