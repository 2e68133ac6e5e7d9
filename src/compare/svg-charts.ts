// The report's charts as inline SVG strings, drawn by msup itself (no library, no network): bars, a
// histogram and lines. Every mark carries its exact figure in data attributes, so a test (or a reader's
// tools) can check the drawing against the JSON. Pure.

export const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2'];

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const n = (x: number) => (Math.round(x * 10) / 10).toString();

export interface Bar {
  runtime: string;
  value: number | null;
  /** The figure as people read it (`255 req/s`). */
  text: string;
  color: string;
}

/** Horizontal bars, one per runtime; a missing value is drawn as "–" with no bar. */
export function barChart(metric: string, title: string, bars: readonly Bar[]): string {
  const width = 640;
  const row = 34;
  const left = 110;
  const right = 130;
  const height = 40 + bars.length * row;
  const max = Math.max(0, ...bars.map((b) => b.value ?? 0));
  const marks = bars.map((b, i) => {
    const y = 30 + i * row;
    const w = b.value !== null && max > 0 ? ((width - left - right) * b.value) / max : 0;
    return [
      `<text x="${left - 8}" y="${y + 17}" text-anchor="end" class="label">${escapeHtml(b.runtime)}</text>`,
      b.value === null
        ? ''
        : `<rect class="bar" x="${left}" y="${y + 4}" width="${n(w)}" height="${row - 12}" fill="${b.color}" data-metric="${escapeHtml(metric)}" data-runtime="${escapeHtml(b.runtime)}" data-value="${b.value}"><title>${escapeHtml(`${b.runtime}: ${b.text}`)}</title></rect>`,
      `<text x="${n(left + w + 6)}" y="${y + 17}" class="value">${escapeHtml(b.text)}</text>`,
    ].join('');
  });
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" data-chart="${escapeHtml(metric)}"><text x="0" y="16" class="title">${escapeHtml(title)}</text>${marks.join('')}</svg>`;
}

/** A latency histogram of one runtime: a bar per bucket (≤ bound), with p50/p95/p99 marked. */
export function histogramChart(
  runtime: string,
  bounds: readonly (number | null)[],
  counts: readonly number[],
  percentiles: { p50: number | null; p95: number | null; p99: number | null },
  color: string,
): string {
  const width = 640;
  const height = 190;
  const left = 40;
  const bottom = 150;
  const top = 30;
  // Only the span of buckets that hold something (and one either side), so small latencies are readable.
  const used = counts.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0);
  const from = Math.max(0, (used[0] ?? 0) - 1);
  const to = Math.min(counts.length - 1, (used.at(-1) ?? counts.length - 1) + 1);
  const shown = counts.slice(from, to + 1);
  const max = Math.max(1, ...shown);
  const slot = (width - left - 10) / shown.length;
  const label = (b: number | null) => (b === null ? '∞' : b < 1 ? `${b}` : `${b}`);
  const bars = shown.map((c, k) => {
    const i = from + k;
    const h = ((bottom - top) * c) / max;
    const x = left + k * slot;
    const upper = bounds[i] ?? null;
    const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
    return `<rect class="bucket" x="${n(x + 1)}" y="${n(bottom - h)}" width="${n(slot - 2)}" height="${n(h)}" fill="${color}" data-runtime="${escapeHtml(runtime)}" data-bucket-ms="${upper ?? 'inf'}" data-count="${c}"><title>${lower}–${label(upper)} ms: ${c}</title></rect><text x="${n(x + slot / 2)}" y="${bottom + 14}" text-anchor="middle" class="tick">${label(upper)}</text>`;
  });
  const marks = (['p50', 'p95', 'p99'] as const).map((p) => {
    const v = percentiles[p];
    if (v === null) return '';
    const i = bounds.findIndex((b) => b === null || v <= b);
    const k = Math.min(Math.max(i - from, 0), shown.length - 1);
    const x = left + k * slot + slot / 2;
    return `<line class="pmark" x1="${n(x)}" x2="${n(x)}" y1="${top - 6}" y2="${bottom}" data-percentile="${p}" data-value="${v}"/><text x="${n(x + 3)}" y="${top - 8 + (p === 'p95' ? 10 : p === 'p99' ? 20 : 0)}" class="tick">${p} ${v.toFixed(2)} ms</text>`;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  return `<svg class="chart" role="img" aria-label="latency of ${escapeHtml(runtime)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" data-chart="latency" data-runtime="${escapeHtml(runtime)}" data-total="${total}"><text x="0" y="14" class="title">${escapeHtml(runtime)}: ${total} requests, ms (upper bound of each bucket)</text>${bars.join('')}${marks.join('')}<text x="${left}" y="${height - 6}" class="tick">log-spaced buckets; bar height = requests in the bucket</text></svg>`;
}

export interface Series {
  runtime: string;
  color: string;
  points: readonly { tMs: number; value: number }[];
}

/** Lines over time, one per runtime (memory over a round). */
export function lineChart(metric: string, title: string, unit: string, series: readonly Series[]): string {
  const width = 640;
  const height = 240;
  const left = 60;
  const right = 110;
  const top = 30;
  const bottom = 200;
  const maxT = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.tMs)));
  const maxV = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.value)));
  const x = (t: number) => left + ((width - left - right) * t) / maxT;
  const y = (v: number) => bottom - ((bottom - top) * v) / maxV;
  const lines = series.map((s) => {
    const pts = s.points.map((p) => `${n(x(p.tMs))},${n(y(p.value))}`).join(' ');
    const last = s.points.at(-1);
    const peak = Math.max(0, ...s.points.map((p) => p.value));
    return `<polyline class="series" fill="none" stroke="${s.color}" stroke-width="2" points="${pts}" data-metric="${escapeHtml(metric)}" data-runtime="${escapeHtml(s.runtime)}" data-points="${s.points.length}" data-peak="${peak}"/>${last ? `<text x="${n(x(last.tMs) + 4)}" y="${n(y(last.value))}" class="label" fill="${s.color}">${escapeHtml(s.runtime)}</text>` : ''}`;
  });
  const axis = `<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" class="axis"/><text x="${left - 6}" y="${top + 4}" text-anchor="end" class="tick">${escapeHtml(`${Math.round(maxV)} ${unit}`)}</text><text x="${left - 6}" y="${bottom}" text-anchor="end" class="tick">0</text><text x="${width - right}" y="${bottom + 16}" text-anchor="end" class="tick">${(maxT / 1000).toFixed(1)} s</text>`;
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" data-chart="${escapeHtml(metric)}"><text x="0" y="16" class="title">${escapeHtml(title)}</text>${axis}${lines.join('')}</svg>`;
}
