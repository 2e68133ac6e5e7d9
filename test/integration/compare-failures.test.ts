// msup compare when something gives way half-way: a runtime that ran a round and then fails is reported
// with the rounds it ran and a note (and counts as a failure), and a load generator that is killed stops
// the compare with MSUP_LOADGEN_ENDED instead of leaving it waiting for ever. A target that answers only
// errors is a failed runtime, not a fast one; a high error share is flagged; a load too short to measure
// is refused. Real processes; nothing may be left running (the project helper checks).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fellShort } from '../../src/compare/compare.js';
import { type CompareProgress, compare } from '../../src/index.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

// Serves until a file named `broken` is in its folder; from then on it exits at once.
const SERVER = `
import http from 'node:http';
import { existsSync } from 'node:fs';
if (existsSync(new URL('./broken', import.meta.url))) process.exit(3);
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

// An API: 404 on `/` (no route there), 200 on /items, and on /flaky a 503 for one request in ten.
const API = `
import http from 'node:http';
let n = 0;
http.createServer((req, res) => {
  if (req.url === '/items') return res.end('[]');
  if (req.url === '/flaky') {
    n++;
    res.statusCode = n % 10 === 0 ? 503 : 200;
    return res.end('x');
  }
  res.statusCode = 404;
  res.end('no route');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

/** This process's children running the compare's load generator. */
function loadgenPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('loadgen.js')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('msup compare when a part fails half-way', () => {
  it('reports a runtime that fails in a later round with the rounds it ran, a note, and as a failure', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write('server.mjs', SERVER);
    const result = await compare({
      cwd: p.root,
      config: p.config({
        web: { command: [process.execPath, 'server.mjs'], port: 0 },
      }),
      runtimes: ['process'],
      requests: 40,
      concurrency: 2,
      rounds: 3,
      idle: '1s',
      startTimeout: '5s',
      onProgress: (e: CompareProgress) => {
        // Round 1 done: every start from now on fails.
        if (e.phase === 'done' && e.round === 1) p.write('broken', '');
      },
    });
    expect(existsSync(path.join(p.root, 'broken'))).toBe(true);
    const proc = result.runtimes.find((r) => r.runtime === 'process');
    expect(proc?.status).toBe('ran');
    expect(proc?.reason).toBeTruthy();
    // The figures are of round 1 only: round 2 failed, and round 3 did not run it.
    expect(proc?.metrics.find((m) => m.id === 'p50Ms')?.rounds).toHaveLength(1);
    expect(
      proc?.notes.some((n) =>
        /^failed in round 2, left out from there: .*of the 1 round\(s\) before$/.test(n),
      ),
    ).toBe(true);
    expect(proc && fellShort(proc)).toBe(true);
  });

  it('stops with MSUP_LOADGEN_ENDED when the load generator is killed, every runtime stopped', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write('server.mjs', SERVER);
    let killed: number[] = [];
    const run = compare({
      cwd: p.root,
      config: p.config({ web: { command: [process.execPath, 'server.mjs'], port: 0 } }),
      runtimes: ['process', 'function'],
      requests: 40,
      concurrency: 2,
      rounds: 2,
      idle: '1s',
      onProgress: (e: CompareProgress) => {
        // Round 1's first runtime has started: its first requests are the next load.
        if (e.phase === 'first-request' && e.round === 1 && killed.length === 0) {
          killed = loadgenPids();
          for (const pid of killed) process.kill(pid, 'SIGKILL');
        }
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'MSUP_LOADGEN_ENDED' });
    expect(killed).toHaveLength(1);
  });

  it('reports a runtime whose every request was answered 404 as failed, with the status, not as measured', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write('api.mjs', API);
    const result = await compare({
      cwd: p.root,
      config: p.config({ web: { command: [process.execPath, 'api.mjs'], port: 0 } }),
      runtimes: ['process'],
      requests: 100,
      concurrency: 2,
      rounds: 1,
      idle: '0.1s',
    });
    const proc = result.runtimes.find((r) => r.runtime === 'process');
    expect(proc).toMatchObject({ status: 'failed', code: 'MSUP_LOAD_FAILED', metrics: [] });
    expect(proc?.reason).toBe(
      'every request to / was answered 404 (100 of 100 in the warm load): no successful (2xx/3xx) answer to measure',
    );
    expect(proc && fellShort(proc)).toBe(true);
    expect(result.baseline).toBeNull();
  });

  it('loads --path instead, and flags a warm load with more than 5% errors', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write('api.mjs', API);
    const run = (path: string) =>
      compare({
        cwd: p.root,
        config: p.config({ web: { command: [process.execPath, 'api.mjs'], port: 0 } }),
        runtimes: ['process'],
        requests: 200,
        concurrency: 2,
        rounds: 1,
        idle: '0.1s',
        path,
      });
    const items = await run('/items');
    expect(items.version).toBe(3);
    expect(items.settings.target).toEqual({ path: '/items', service: 'web' });
    const ok = items.runtimes[0];
    const value = (r: typeof ok, id: string) => r?.metrics.find((m) => m.id === id)?.value;
    expect([ok?.status, ok?.manyErrors, value(ok, 'errorShare')]).toEqual(['ran', false, 0]);
    expect(value(ok, 'throughputRps')).toBeGreaterThan(0);

    const flaky = (await run('/flaky')).runtimes[0];
    expect(flaky?.status).toBe('ran');
    // One in ten answered 503: every tenth request of the server, whichever load it fell in.
    expect(value(flaky, 'errors5xx')).toBeGreaterThanOrEqual(19);
    expect(value(flaky, 'errorShare')).toBeCloseTo(0.1, 1);
    expect(flaky?.manyErrors).toBe(true);
    expect(flaky?.notes).toContainEqual(
      expect.stringMatching(
        /^the warm load: \d+ of 200 requests to \/flaky failed \(\d+ answered 503\), over 5%/,
      ),
    );
  });

  it('refuses a duration under a second (a load of 0 ms measured nothing) and a bad path', async () => {
    const p = project();
    p.write('api.mjs', API);
    const options = {
      cwd: p.root,
      config: p.config({ web: { command: [process.execPath, 'api.mjs'], port: 0 } }),
      runtimes: ['process'],
      requests: 20,
      concurrency: 2,
      rounds: 1,
      idle: '0.1s',
    };
    await expect(compare({ ...options, duration: '0s', path: '/items' })).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: 'compare: duration must be at least 1s, got 0s (0 ms)',
    });
    await expect(compare({ ...options, path: 'items' })).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: 'compare: path "items": it must start with "/"',
    });
  }, 60_000);
});
