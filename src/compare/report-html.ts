// The compare's HTML report: one self-contained page (inline CSS and SVG, the result embedded as JSON, no
// network) with the machine, a summary table, and charts of latency, throughput, memory and cost. Pure.
import { errorWarning, formatRatio, formatUncertainty, formatValue, verdict } from './format.js';
import { ERROR_SHARE_THRESHOLD } from './load-figures.js';
import { ownMarked } from './metrics.js';
import { barChart, escapeHtml, histogramChart, lineChart, PALETTE } from './svg-charts.js';
import type { CompareResultV3, Metric, MetricId, RuntimeReport } from './types.js';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#111;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}td.num{text-align:right;white-space:nowrap}
.kind{font-size:11px;padding:1px 6px;border-radius:8px;background:#eef}.kind.emulated{background:#fde7f3}
.kind.modelled{background:#fff3d6}.kind.published{background:#e3f5ea}.noisy{color:#b91c1c;font-weight:600}
.chart{max-width:100%;height:auto;display:block;margin:8px 0}.chart .title{font-weight:600;font-size:13px}
.chart .label{font-size:12px}.chart .value,.chart .tick{font-size:11px;fill:#333}.chart .axis{stroke:#999}
.chart .pmark{stroke:#111;stroke-dasharray:3 2}.notrun{color:#92400e}.errors{color:#b45309;font-weight:600}.ratio{font-size:11px;color:#555}.grid{display:grid;grid-template-columns:1fr;gap:4px}
`;

const metric = (r: RuntimeReport, id: MetricId): Metric | undefined => r.metrics.find((m) => m.id === id);

function summaryTable(result: CompareResultV3, ran: readonly RuntimeReport[]): string {
  const first = ran[0];
  if (!first) return '<p>No runtime ran.</p>';
  const head = `<tr><th>figure</th><th>kind</th>${ran.map((r) => `<th>${escapeHtml(r.runtime)}</th>`).join('')}</tr>`;
  const rows = first.metrics.map((m) => {
    const cells = ran.map((r) => {
      const x = metric(r, m.id);
      if (!x) return '<td></td>';
      const plusMinus = formatUncertainty(x.uncertainty, result.settings.rounds);
      const rounds = result.settings.rounds > 1 ? x.rounds.map((v) => formatValue(v, x.unit)).join(', ') : '';
      const q = x.ratio;
      const ratioRounds =
        q && result.settings.rounds > 1 ? q.rounds.map((v) => formatRatio(v)).join(', ') : '';
      const ratio =
        q && result.baseline
          ? `<br><span class="ratio${q.noisy ? ' noisy' : ''}" data-ratio="${q.value ?? ''}">${escapeHtml(`${formatRatio(q.value)} ${result.baseline}${formatUncertainty(q.uncertainty, result.settings.rounds)}`)}${q.noisy ? ' !' : ''}</span>`
          : '';
      const title = [
        rounds && `rounds: ${rounds}`,
        ratioRounds && `over ${result.baseline} in each round: ${ratioRounds}`,
        x.note,
        x.source,
      ];
      const marked = ownMarked(x);
      const errors = x.id === 'errorShare' && r.manyErrors === true;
      return `<td class="num${marked ? ' noisy' : ''}${errors ? ' errors' : ''}" data-runtime="${escapeHtml(r.runtime)}" data-metric="${x.id}" data-value="${x.value ?? ''}" title="${escapeHtml(title.filter(Boolean).join(' — '))}">${escapeHtml(formatValue(x.value, x.unit) + plusMinus)}${marked ? ' !' : ''}${errors ? ' ⚠' : ''}${ratio}</td>`;
    });
    const kinds = [...new Set(ran.map((r) => metric(r, m.id)?.kind ?? ''))];
    const kind = kinds.map((k) => `<span class="kind ${k}">${k}</span>`).join(' ');
    return `<tr><td>${escapeHtml(m.label)}</td><td>${kind}</td>${cells.join('')}</tr>`;
  });
  return `<table id="summary">${head}${rows.join('')}</table>`;
}

function bars(ran: readonly RuntimeReport[], id: MetricId, title: string): string {
  return barChart(
    id,
    title,
    ran.map((r, i) => {
      const m = metric(r, id);
      return {
        runtime: r.runtime,
        value: m?.value ?? null,
        text: m ? formatValue(m.value, m.unit) : '–',
        color: PALETTE[i % PALETTE.length] as string,
      };
    }),
  );
}

export function compareReportHtml(result: CompareResultV3): string {
  const ran = result.runtimes.filter((r) => r.status === 'ran');
  const m = result.machine;
  const s = result.settings;
  const color = (i: number) => PALETTE[i % PALETTE.length] as string;
  const latency = ran
    .map((r, i) =>
      histogramChart(
        r.runtime,
        result.latencyBucketsMs,
        r.latencyHistogram,
        {
          p50: metric(r, 'p50Ms')?.value ?? null,
          p95: metric(r, 'p95Ms')?.value ?? null,
          p99: metric(r, 'p99Ms')?.value ?? null,
        },
        color(i),
      ),
    )
    .join('');
  const memory = lineChart(
    'memory',
    'memory (RSS of every process of the runtime, msup included) over the last round',
    'MB',
    ran.map((r, i) => ({
      runtime: r.runtime,
      color: color(i),
      points: r.memory.map((p) => ({ tMs: p.tMs, value: p.rssBytes / 1024 / 1024 })),
    })),
  );
  const notRun = result.runtimes
    .filter((r) => r.status !== 'ran')
    .map(
      (r) =>
        `<li class="notrun" data-runtime="${escapeHtml(r.runtime)}" data-status="${r.status}">${escapeHtml(r.runtime)}: ${r.status === 'not-run' ? 'not run' : 'failed'}: ${escapeHtml(r.reason ?? '')}</li>`,
    )
    .join('');
  // A result from before version 3 has no threshold.
  const threshold = result.errorShareThreshold ?? ERROR_SHARE_THRESHOLD;
  const errorWarnings = ran
    .map((r) => ({ r, text: errorWarning(r, threshold) }))
    .filter((x): x is { r: RuntimeReport; text: string } => x.text !== null)
    .map(
      ({ r, text }) =>
        `<li class="errors" data-runtime="${escapeHtml(r.runtime)}" data-many-errors="true">⚠ ${escapeHtml(text)}</li>`,
    )
    .join('');
  const describe = result.runtimes
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.runtime)}${r.emulates ? `<br><small>emulates ${escapeHtml(r.emulates)}</small>` : ''}</td><td>${escapeHtml(r.isolation)}</td><td>${escapeHtml(r.exportLoses)}</td><td>${r.notes.map(escapeHtml).join('<br>')}</td></tr>`,
    )
    .join('');
  const published = result.published
    .map(
      (p) =>
        `<li><span class="kind published">published</span> ${escapeHtml(p.runtime)}: ${escapeHtml(p.text)} <small>(${escapeHtml(p.source)})</small></li>`,
    )
    .join('');
  const costNotes = ran
    .map((r) => ({ r, c: metric(r, 'costPerMillionUsd') }))
    .filter(({ c }) => c?.source)
    .map(
      ({ r, c }) =>
        `<li>${escapeHtml(r.runtime)}: ${escapeHtml(c?.note ?? '')}; prices: ${escapeHtml(c?.source ?? '')}</li>`,
    )
    .join('');
  const [machineVerdict, figuresVerdict] = verdict(result);
  const verdictHtml = `<p id="verdict"${result.noisy ? ' class="noisy"' : ''}>${escapeHtml(machineVerdict ?? '')}</p><p id="figures-verdict">${escapeHtml(figuresVerdict ?? '')}</p>`;
  const data = JSON.stringify(result).replaceAll('<', '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>msup compare: ${escapeHtml(ran.map((r) => r.runtime).join(' vs '))}</title><style>${CSS}</style></head>
<body>
<h1>msup compare</h1>
<p class="meta" id="machine">${m.cpus} × ${escapeHtml(m.cpuModel)}, ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB, Node ${escapeHtml(m.node)}, ${escapeHtml(`${m.platform} ${m.release}`)}, load average ${m.loadAverage.join(' ')} · ${escapeHtml(result.startedAt)}</p>
<p class="meta">${s.requests} requests at concurrency ${s.concurrency} (time limit ${s.durationMs / 1000} s), ${s.rounds} round(s), idle ${s.idleMs / 1000} s${s.target ? `, GET ${escapeHtml(s.target.path)} (service ${escapeHtml(s.target.service)})` : ''}; load from a separate process on loopback.</p>
${notRun ? `<ul>${notRun}</ul>` : ''}
<h2>Summary</h2>
${summaryTable(result, ran)}
${errorWarnings ? `<ul id="error-warnings">${errorWarnings}</ul>` : ''}
${verdictHtml}
<p class="meta"><span class="kind measured">measured</span> on this machine · <span class="kind emulated">emulated</span> measured on msup's stand-in for a platform · <span class="kind modelled">modelled</span> computed at list prices · <span class="kind published">published</span> by others, on other hardware</p>
<h2>Latency distribution (warm load)</h2>
<div class="grid">${latency}</div>
<h2>Throughput</h2>
${bars(ran, 'throughputRps', `throughput at concurrency ${s.concurrency}`)}
${bars(ran, 'p99Ms', 'warm latency p99')}
<h2>Memory over the run</h2>
${memory}
${bars(ran, 'rssLoadBytes', 'memory under load (all processes)')}
${bars(ran, 'rssIdleBytes', 'memory after idle')}
<h2>Cost per million requests (modelled)</h2>
${bars(ran, 'costPerMillionUsd', 'cost per million requests, modelled at list prices')}
<ul>${costNotes}</ul>
<h2>Isolation and what the export loses</h2>
<table><tr><th>runtime</th><th>isolation</th><th>export loses</th><th>notes</th></tr>${describe}</table>
<h2>Published anchors</h2>
<ul>${published}</ul>
<script type="application/json" id="compare-data">${data}</script>
</body></html>
`;
}
