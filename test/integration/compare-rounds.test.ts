// msup compare past the rounds asked for: another round is run while a figure is marked ! (its 95% interval
// from the rounds reaches past ±14.1%), until none is or the most rounds have run (test/unit/compare-rounds
// has the cases with fake rounds). Real processes and the real load generator; nothing may be left running (the
// project helper checks).
import { describe, expect, it } from 'vitest';
import { foldRounds, markedFigures } from '../../src/compare/metrics.js';
import { type CompareProgress, compare, type MetricId } from '../../src/index.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

const SERVER = `
import http from 'node:http';
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('msup compare adds rounds while figures are marked', () => {
  it('runs past the rounds asked for exactly while a figure is marked, up to the most', {
    timeout: 180_000,
  }, async () => {
    const p = project();
    p.write('server.mjs', SERVER);
    const events: CompareProgress[] = [];
    const result = await compare({
      cwd: p.root,
      config: p.config({ web: { command: [process.execPath, 'server.mjs'], port: 0 } }),
      runtimes: ['process'],
      requests: 60,
      concurrency: 2,
      rounds: 2,
      maxRounds: 4,
      idle: '0.1s',
      onProgress: (e) => events.push(e),
    });
    const run = result.settings.rounds;
    expect(result.settings).toMatchObject({ minRounds: 2, maxRounds: 4 });
    expect(run).toBeGreaterThanOrEqual(2);
    expect(run).toBeLessThanOrEqual(4);
    const proc = result.runtimes[0];
    expect(proc?.status).toBe('ran');
    // Every round ran process once, and each row holds one value a round.
    expect(events.filter((e) => e.phase === 'start').map((e) => e.round)).toEqual(
      Array.from({ length: run }, (_, i) => i + 1),
    );
    for (const m of proc?.metrics ?? []) expect([m.id, m.rounds.length]).toEqual([m.id, run]);
    // The rows as they stood after each round, folded again from the rounds the result kept.
    const metrics = proc?.metrics ?? [];
    const markedAfter = (n: number) => {
      const values = Array.from({ length: n }, (_, i) =>
        Object.fromEntries(metrics.map((m) => [m.id, m.rounds[i] ?? null])),
      ) as Partial<Record<MetricId, number | null>>[];
      const samples = Array.from({ length: n }, (_, i) =>
        Object.fromEntries(
          metrics.filter((m) => m.samples !== undefined).map((m) => [m.id, m.samples?.[i] ?? []]),
        ),
      );
      return markedFigures([
        { ...(proc as NonNullable<typeof proc>), metrics: foldRounds(values, false, {}, samples) },
      ]);
    };
    // Each round added was asked for by figures marked after the round before, and said so.
    const more = events.filter((e) => e.phase === 'more-rounds');
    expect(more.map((e) => e.round)).toEqual(Array.from({ length: run - 2 }, (_, i) => i + 2));
    for (const e of more) {
      const marked = markedAfter(e.round);
      expect(marked.length).toBeGreaterThan(0);
      expect(e.message).toMatch(
        new RegExp(
          `^${marked.length} figures? marked ! after ${e.round} rounds \\(process's .*\\): round ${e.round + 1}, up to 4$`,
        ),
      );
      expect(e.maxRounds).toBe(4);
    }
    // It stopped because nothing was marked any more, or at the most.
    expect(run === 4 || markedAfter(run).length === 0).toBe(true);
    expect(markedFigures(result.runtimes)).toEqual(markedAfter(run));
  });
});
