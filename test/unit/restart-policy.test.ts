import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/resolve.js';
import { backoffDelay, decideRestart } from '../../src/service/restart-policy.js';
import type { ResolvedRestart } from '../../src/types.js';

const policy: ResolvedRestart = { ...DEFAULTS.restart };
const crash = { code: 1, signal: null, uptimeMs: 50, requested: false };

describe('restart policy', () => {
  it('doubles the delay from 100 ms up to the 15 s cap', () => {
    expect([1, 2, 3, 4, 8, 20].map((n) => backoffDelay(policy, n))).toEqual([
      100, 200, 400, 800, 12_800, 15_000,
    ]);
  });

  it('takes up to 20% off for jitter and never goes above the cap', () => {
    expect(decideRestart(policy, crash, 0, 0)).toMatchObject({ restart: true, delayMs: 100, consecutive: 1 });
    expect(decideRestart(policy, crash, 0, 0.999)).toMatchObject({ delayMs: 80 });
    const capped = decideRestart(policy, crash, 30, 0);
    expect(capped.restart && capped.delayMs).toBe(15_000);
  });

  it('grows with consecutive unstable exits and declares a crash loop at crashLoopAfter', () => {
    let consecutive = 0;
    const seen: { delayMs: number; crashLoop: boolean }[] = [];
    for (let i = 0; i < 6; i++) {
      const d = decideRestart(policy, crash, consecutive, 0.5);
      if (!d.restart) throw new Error('expected a restart');
      consecutive = d.consecutive;
      seen.push({ delayMs: d.delayMs, crashLoop: d.crashLoop });
    }
    expect(seen.map((s) => s.delayMs)).toEqual([90, 180, 360, 720, 1440, 2880]);
    expect(seen.map((s) => s.crashLoop)).toEqual([false, false, false, false, true, true]);
  });

  it('starts over after a stable run', () => {
    const d = decideRestart(policy, { ...crash, uptimeMs: 30_000 }, 9, 0);
    expect(d).toMatchObject({ restart: true, delayMs: 100, consecutive: 1, crashLoop: false });
  });

  it('never counts a run that was never ready as stable, however long it lasted', () => {
    const d = decideRestart(policy, { ...crash, uptimeMs: 60_000, neverReady: true }, 9, 0);
    expect(d).toMatchObject({ restart: true, consecutive: 10, crashLoop: true });
  });

  it('follows always / on-failure / never', () => {
    const clean = { code: 0, signal: null, uptimeMs: 10, requested: false };
    const killed = { code: null, signal: 'SIGKILL', uptimeMs: 10, requested: false };
    const with_ = (name: ResolvedRestart['policy']) => ({ ...policy, policy: name });
    expect(decideRestart(with_('always'), clean, 0, 0).restart).toBe(true);
    expect(decideRestart(with_('on-failure'), clean, 0, 0)).toMatchObject({ restart: false, failed: false });
    expect(decideRestart(with_('on-failure'), killed, 0, 0).restart).toBe(true);
    expect(decideRestart(with_('never'), crash, 0, 0)).toMatchObject({ restart: false, failed: true });
  });

  it('never restarts an exit that was asked for', () => {
    expect(decideRestart(policy, { ...crash, requested: true }, 0, 0).restart).toBe(false);
  });
});
