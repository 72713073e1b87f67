import { bars, percent, type Summary } from '../evals';

// Two small charts of a run: pass rate and mean score by version, and the latency
// distribution (a histogram). Plain SVG: no chart library for two bar charts.
export function ScoreByVersion({ summary }: { summary: Summary }) {
  const items = summary.byVersion;
  const width = Math.max(160, items.length * 90);
  return (
    <figure className="chart" aria-label="Score by version">
      <figcaption>Pass rate and mean score by version</figcaption>
      <svg width={width} height={150} role="img">
        {items.map((v, i) => {
          const x = 20 + i * 90;
          const pass = (v.passRate ?? 0) * 100;
          const score = (v.meanScore ?? 0) * 100;
          return (
            <g key={v.version}>
              <rect x={x} y={120 - pass} width={28} height={pass} className="bar pass" />
              <rect x={x + 32} y={120 - score} width={28} height={score} className="bar score" />
              <text x={x + 30} y={138} textAnchor="middle" className="axis">
                v{v.version}
              </text>
              <text x={x + 14} y={115 - pass} textAnchor="middle" className="value">
                {percent(v.passRate)}
              </text>
            </g>
          );
        })}
        <line x1={10} x2={width - 4} y1={120} y2={120} className="axis-line" />
      </svg>
      <div className="legend">
        <span className="swatch pass" /> pass rate <span className="swatch score" /> mean score
      </div>
    </figure>
  );
}

export function LatencyHistogram({ summary }: { summary: Summary }) {
  const items = bars(summary.latencyHistogram, (h) => h.count);
  if (items.length === 0) return null;
  const w = 24;
  return (
    <figure className="chart" aria-label="Latency distribution">
      <figcaption>
        Latency (ms): p50 {summary.latencyMs.p50 ?? '–'}, p95 {summary.latencyMs.p95 ?? '–'}
      </figcaption>
      <svg width={items.length * (w + 4) + 20} height={150} role="img">
        {items.map(({ item, share }, i) => (
          <g key={i}>
            <title>
              {item.from}–{item.to} ms: {item.count}
            </title>
            <rect x={10 + i * (w + 4)} y={120 - share * 100} width={w} height={share * 100} className="bar latency" />
            {item.count > 0 && (
              <text x={10 + i * (w + 4) + w / 2} y={115 - share * 100} textAnchor="middle" className="value">
                {item.count}
              </text>
            )}
          </g>
        ))}
        <text x={10} y={138} className="axis">
          {items[0].item.from}
        </text>
        <text x={items.length * (w + 4) + 6} y={138} textAnchor="end" className="axis">
          {items[items.length - 1].item.to}
        </text>
        <line x1={6} x2={items.length * (w + 4) + 14} y1={120} y2={120} className="axis-line" />
      </svg>
    </figure>
  );
}
