// A real compare of a tiny config: processes, functions and sidecars (and containers where podman works), with a
// small load from the separate load generator; the figures must add up, every runtime must leave nothing
// behind, and the HTML report, opened in real Chromium, must draw the measured numbers without an error.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { roundPlan } from '../../src/compare/compare.js';
import { median, pairwiseRatio } from '../../src/compare/stats.js';
import { type CompareProgress, type CompareResultV3, compare, compareReportHtml } from '../../src/index.js';
import { needsChromium, openPage } from '../helpers/browser.js';
import { podmanMissing, projectContainers, removeProjectImages } from '../helpers/engines.js';
import { useProject } from '../helpers/project.js';

const project = useProject();
const noPodman = podmanMissing();
const runtimes = ['process', 'function', 'sidecar', ...(noPodman === undefined ? ['container'] : [])];
const REQUESTS = 200;

const SERVER = `
import http from 'node:http';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url, instance: process.env.MSUP_INSTANCE }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const roots: string[] = [];
afterAll(() => {
  if (noPodman === undefined) for (const root of roots) removeProjectImages(root);
});

describe('msup compare on a tiny config', () => {
  it(`measures ${runtimes.join(', ')} the same way, and reports figures that add up`, {
    timeout: 300_000,
  }, async () => {
    const p = project();
    roots.push(p.root);
    p.write('server.mjs', SERVER);
    const phases: CompareProgress[] = [];
    const result = await compare({
      cwd: p.root,
      config: p.config({
        web: {
          command: [process.execPath, 'server.mjs'],
          instances: 2,
          port: 0,
          health: { http: '/health' },
        },
      }),
      runtimes,
      requests: REQUESTS,
      concurrency: 4,
      rounds: 1,
      // Idle periods of a second: shorter ones are not measured for other work (10 ms ticks).
      idle: '1s',
      onProgress: (e) => phases.push(e),
    });

    expect(result.version).toBe(3);
    expect(result.machine.cpus).toBeGreaterThan(0);
    expect(result.settings).toMatchObject({
      requests: REQUESTS,
      concurrency: 4,
      rounds: 1,
      target: { path: '/', service: 'web' },
    });
    // The round ran the plan: process beside every other runtime (twice with three others).
    const plan = roundPlan(runtimes, 1, 'process');
    const starts = phases.filter((e) => e.round === 1 && e.phase === 'start').map((e) => e.runtime);
    expect(starts).toEqual(plan);
    for (const r of runtimes.filter((x) => x !== 'process')) {
      const i = plan.indexOf(r);
      expect([r, plan[i - 1] === 'process' || plan[i + 1] === 'process']).toEqual([r, true]);
    }
    const processRuns = plan.filter((r) => r === 'process').length;
    // Other work on the machine was measured in each idle period (four a run of each runtime, eight of
    // the function's), and in each warm load (these are too short: under a second, not measured).
    expect(result.background.periods).toBe((plan.length - 1) * 4 + 8);
    expect(result.background.load).toMatchObject({ threshold: 0.2 });
    expect(result.background.load?.periods).toBeLessThanOrEqual(plan.length);
    expect(result.background.share).toBeGreaterThanOrEqual(0);
    expect(result.background.max).toBeGreaterThanOrEqual(result.background.share as number);
    expect(result.background.max).toBeLessThanOrEqual(1);
    expect(result.runtimes.map((r) => [r.runtime, r.status, r.reason])).toEqual(
      runtimes.map((r) => [r, 'ran', undefined]),
    );
    for (const r of result.runtimes) {
      const v = Object.fromEntries(r.metrics.map((m) => [m.id, m.value]));
      // Every request sent was answered, successfully: nothing lost between the load generator and msup.
      expect([r.runtime, v.requestsSent, v.requestsAnswered]).toEqual([r.runtime, REQUESTS, REQUESTS]);
      const errors = [v.errors5xx, v.errors429, v.errors4xx, v.errorsConnection, v.errorsTimeout];
      expect([r.runtime, ...errors]).toEqual([r.runtime, 0, 0, 0, 0, 0]);
      // The histogram holds exactly the successful answers of the warm load.
      expect(r.latencyHistogram.reduce((a, b) => a + b, 0)).toBe(REQUESTS);
      expect(v.p50Ms).toBeGreaterThan(0);
      expect(v.p50Ms as number).toBeLessThanOrEqual(v.p95Ms as number);
      expect(v.p95Ms as number).toBeLessThanOrEqual(v.p99Ms as number);
      expect(v.throughputRps).toBeGreaterThan(0);
      // The kill-recovery row: a replacement served, and the failed requests are counted (a number).
      expect(v.recoveryMs).toBeGreaterThan(0);
      expect(typeof v.recoveryFailed).toBe('number');
      expect(v.rssLoadBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(v.rssIdleBytes).toBeGreaterThan(0);
      expect(v.costPerMillionUsd).toBeGreaterThan(0);
      expect(r.memory.length).toBeGreaterThan(1);
      const cost = r.metrics.find((m) => m.id === 'costPerMillionUsd');
      expect(cost?.kind).toBe('modelled');
      expect(cost?.source).toMatch(/^https:\/\/aws\.amazon\.com\//);
      expect(r.isolation.length).toBeGreaterThan(10);
      // Each figure is labelled, and with one round nothing is called noisy.
      for (const m of r.metrics) expect(['measured', 'emulated', 'modelled']).toContain(m.kind);
      expect(r.metrics.every((m) => !m.noisy && m.spread === null)).toBe(true);
    }
    const fn = Object.fromEntries(
      (result.runtimes.find((r) => r.runtime === 'function')?.metrics ?? []).map((m) => [m.id, m]),
    );
    // The function started environments on demand: at least one cold start, its init shown apart.
    expect(fn.coldStarts?.value).toBeGreaterThanOrEqual(1);
    expect(fn.firstRequestInitMs?.value).toBeGreaterThan(0);
    expect(fn.coldStartMs?.kind).toBe('emulated');
    // Every environment's init: at least the first request's.
    expect(fn.coldStartMaxMs?.samples?.[0]?.length).toBeGreaterThanOrEqual(1);
    expect(fn.coldStartMaxMs?.value).toBe(Math.max(...(fn.coldStartMaxMs?.samples?.[0] ?? [])));
    expect(fn.costIdleHourUsd?.value).toBe(0);
    const proc = Object.fromEntries(
      (result.runtimes.find((r) => r.runtime === 'process')?.metrics ?? []).map((m) => [m.id, m]),
    );
    // Every other runtime's figures over those of process's run beside it, round by round (one round
    // here), kept with it; none for process. Process's own figures are of its first run of the round.
    expect(result.baseline).toBe('process');
    expect(proc.p50Ms?.ratio).toBeNull();
    expect(proc.p50Ms?.rounds).toHaveLength(1);
    expect(proc.baselineRounds).toBeUndefined();
    const beside = (runtime: string) =>
      result.runtimes.find((x) => x.runtime === runtime)?.baselineRounds ?? { values: [], samples: [] };
    const firstRunMates = plan.slice(0, 3).filter((r) => r !== 'process');
    for (const r of result.runtimes.filter((x) => x.runtime !== 'process')) {
      const p50 = r.metrics.find((m) => m.id === 'p50Ms');
      const over = beside(r.runtime).values[0]?.p50Ms as number;
      expect(p50?.ratio?.value).toBeCloseTo((p50?.value as number) / over, 9);
      // Beside process's first run: that run's figures are process's own.
      if (firstRunMates.includes(r.runtime)) expect(over).toBe(proc.p50Ms?.value);
      expect(r.metrics.find((m) => m.id === 'requestsSent')?.ratio).toBeNull();
    }
    // The function's init has no figure at process: its ratio is over process's cold start, same round.
    const processCold = beside('function').values[0]?.coldStartMs as number;
    expect(processCold).toBeGreaterThan(0);
    expect(fn.firstRequestInitMs?.ratio?.value).toBeCloseTo(
      (fn.firstRequestInitMs?.value as number) / processCold,
      9,
    );
    // The first-request rows keep their single requests: one per instance after ready, and one per
    // instance after each of the four idle periods; their value is the median of those, and a round's ratio
    // the median of every request over every one of process's in the round (one round here).
    expect(proc.firstRequestMs?.samples?.map((r) => r.length)).toEqual([2]);
    expect(proc.firstAfterIdleMs?.samples?.map((r) => r.length)).toEqual([8]);
    expect(proc.firstAfterIdleMs?.value).toBe(median(proc.firstAfterIdleMs?.samples?.[0] ?? []));
    expect(proc.p50Ms?.samples).toBeUndefined();
    // Every instance's cold start, of which the rows are the median and the max.
    const colds = proc.coldStartMaxMs?.samples?.[0] ?? [];
    expect(colds).toHaveLength(2);
    expect(proc.coldStartMaxMs?.value).toBe(Math.max(...colds));
    expect(proc.coldStartMs?.value).toBe(median(colds));
    const idles = phases.filter((e) => e.runtime === 'process' && e.round > 0 && e.phase === 'idle');
    expect(idles.map((e) => e.message)).toEqual(
      Array.from({ length: processRuns }, () =>
        [1, 2, 3, 4].map((n) => `idle for 1000 ms (${n} of 4)`),
      ).flat(),
    );
    for (const r of result.runtimes.filter((x) => x.runtime !== 'process')) {
      const row = r.metrics.find((m) => m.id === 'firstAfterIdleMs');
      const mine = row?.samples?.flat() ?? [];
      // A function: one a period, eight periods (its pool hands them to its first warm environment, one
      // after another); the others one per instance (2) after each of four periods.
      expect([r.runtime, mine.length]).toEqual([r.runtime, 8]);
      const base = beside(r.runtime).samples[0]?.firstAfterIdleMs ?? [];
      expect(base).toHaveLength(8);
      expect(row?.ratio?.value).toBe(median(mine.flatMap((v) => base.map((b) => v / b))));
    }
    expect(proc.coldStarts?.value).toBeNull();
    expect(proc.coldStartMs?.kind).toBe('measured');
    expect(proc.costIdleHourUsd?.value).toBeGreaterThan(0);
    // Progress: each runtime went through every phase, in order, and the load reported its progress.
    for (const runtime of runtimes) {
      const seen = phases.filter((e) => e.runtime === runtime && e.round > 0).map((e) => e.phase);
      expect([...new Set(seen)]).toEqual([
        'start',
        'first-request',
        'warm-up',
        'load',
        'recovery',
        'idle',
        'stop',
        'done',
      ]);
    }
    // Recovery: one kill after another, each of a different process (each instance of the 2 once; a
    // function's running environments 8 times), and the figures are their medians; each kill's time is
    // kept, and the function's ratio in the round is over every kill of both.
    const recoveryOf = (runtime: string) =>
      result.runtimes.find((r) => r.runtime === runtime)?.metrics.find((m) => m.id === 'recoveryMs');
    for (const runtime of runtimes) {
      const killed = phases
        .filter((e) => e.runtime === runtime && e.phase === 'recovery')
        .map((e) => /killing one instance \(pid (\d+)\)/.exec(e.message)?.[1])
        .filter((pid) => pid !== undefined);
      const runs = runtime === 'process' ? processRuns : 1;
      expect([runtime, killed.length]).toEqual([runtime, (runtime === 'function' ? 8 : 2) * runs]);
      expect(new Set(killed).size).toBe(killed.length);
      const row = recoveryOf(runtime);
      expect(row?.samples?.[0]).toHaveLength(killed.length / runs);
      expect(row?.rounds[0]).toBe(median(row?.samples?.[0] ?? []));
    }
    const fnRecovery = recoveryOf('function');
    const procKills = beside('function').samples[0]?.recoveryMs ?? [];
    expect(fnRecovery?.ratio?.rounds[0]).toBe(pairwiseRatio(fnRecovery?.samples?.[0] ?? [], procKills));
    const lastLoad = phases.filter((e) => e.phase === 'load' && e.done !== undefined).at(-1);
    expect(lastLoad?.total).toBe(REQUESTS);
    if (noPodman === undefined) expect(projectContainers(p.root)).toEqual([]);

    await checkReportInChromium(result, path.join(p.root, 'report.html'));
  });
});

/** The report in real Chromium: each chart's marks carry the JSON's numbers; no error, no network. */
async function checkReportInChromium(result: CompareResultV3, file: string): Promise<void> {
  writeFileSync(file, compareReportHtml(result));
  if (needsChromium().skip) return;
  const opened = await openPage(pathToFileURL(file).href);
  try {
    const { page } = opened;
    for (const r of result.runtimes) {
      const value = (id: string) => r.metrics.find((m) => m.id === id)?.value;
      const bar = (metric: string) =>
        page
          .locator(`svg[data-chart="${metric}"] rect[data-runtime="${r.runtime}"]`)
          .getAttribute('data-value');
      expect(Number(await bar('throughputRps'))).toBe(value('throughputRps'));
      expect(Number(await bar('costPerMillionUsd'))).toBe(value('costPerMillionUsd'));
      expect(Number(await bar('rssLoadBytes'))).toBe(value('rssLoadBytes'));
      const buckets = page.locator(`svg[data-chart="latency"][data-runtime="${r.runtime}"] rect.bucket`);
      const counts = (await buckets.evaluateAll((rects) =>
        rects.map((x) => Number(x.getAttribute('data-count'))),
      )) as number[];
      expect(counts.reduce((a, b) => a + b, 0)).toBe(REQUESTS);
      const p50 = page.locator(
        `svg[data-chart="latency"][data-runtime="${r.runtime}"] line[data-percentile="p50"]`,
      );
      expect(Number(await p50.getAttribute('data-value'))).toBe(value('p50Ms'));
      const line = page.locator(`svg[data-chart="memory"] polyline[data-runtime="${r.runtime}"]`);
      expect(Number(await line.getAttribute('data-points'))).toBe(r.memory.length);
      // Drawn, not only present: the bars and the line have a size on the page.
      const box = await page
        .locator(`svg[data-chart="throughputRps"] rect[data-runtime="${r.runtime}"]`)
        .boundingBox();
      expect(box?.width).toBeGreaterThan(0);
      expect((await line.boundingBox())?.width).toBeGreaterThan(0);
      const cell = page.locator(`#summary td[data-runtime="${r.runtime}"][data-metric="p99Ms"]`);
      expect(Number(await cell.getAttribute('data-value'))).toBe(value('p99Ms'));
      const ratio = r.metrics.find((m) => m.id === 'p99Ms')?.ratio;
      const shown = cell.locator('span.ratio');
      if (ratio) expect(Number(await shown.getAttribute('data-ratio'))).toBe(ratio.value);
      else expect(await shown.count()).toBe(0);
    }
    // The verdict names the other work measured, and what one round cannot say.
    expect(await page.locator('#verdict').textContent()).toMatch(
      /^(Quiet|Noisy): other work used [\d.]+% of the machine's CPU while the runtimes sat idle/,
    );
    expect(await page.locator('#figures-verdict').textContent()).toMatch(/^One round: a quick look/);
    const embedded = JSON.parse((await page.locator('#compare-data').textContent()) ?? 'null');
    expect(embedded).toEqual(result);
    expect(opened.errors).toEqual([]);
    expect(opened.requests).toEqual([]);
  } finally {
    await opened.close();
  }
}
