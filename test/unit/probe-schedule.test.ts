import { afterEach, describe, expect, it, vi } from 'vitest';
import { PROCESS_SHORTAGE_LIMIT_MS, startMonitor, startupProbeDelay } from '../../src/health/monitor.js';
import type { ProbeTarget } from '../../src/health/probe.js';
import type { ResolvedProbeSettings } from '../../src/types.js';

afterEach(() => {
  vi.useRealTimers();
});

/**
 * When each probe of a monitor had its verdict, relative to the monitor's start, over its first `forMs` on
 * a fake clock. The instance has no port, so an http or tcp probe fails at once, with no I/O; an exec probe
 * takes what `exec` takes.
 */
async function probeTimes(
  settings: Partial<ResolvedProbeSettings>,
  forMs: number,
  exec: ProbeTarget['exec'] = () => Promise.reject(new Error('no exec here')),
): Promise<number[]> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  const started = performance.now();
  const at: number[] = [];
  const monitor = startMonitor(
    {
      probe: { kind: 'tcp' },
      intervalMs: 1000,
      timeoutMs: 1000,
      failureThreshold: 3,
      successThreshold: 1,
      initialDelayMs: 0,
      ...settings,
    },
    { endpoint: null, exec },
    { onReady: () => {}, onUnready: () => {}, onResult: () => at.push(performance.now() - started) },
  );
  await vi.advanceTimersByTimeAsync(forMs);
  await monitor.stop();
  vi.useRealTimers();
  return at;
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - (times[i] as number));

describe('the probe schedule of an instance that is not ready yet', () => {
  it('probes 10 ms after the first probe, then every 20 ms for the first 2 s', () => {
    expect(startupProbeDelay(0, null)).toBe(10);
    expect(startupProbeDelay(15, 10)).toBe(20);
    expect(startupProbeDelay(1999, 20)).toBe(20);
  });

  it('keeps doubling from 10 ms for an exec probe, which starts a process each time', () => {
    const delays: number[] = [];
    let previous: number | null = null;
    for (let i = 0; i < 6; i++) {
      previous = startupProbeDelay(i * 10, previous, false);
      delays.push(previous);
    }
    expect(delays).toEqual([10, 20, 40, 80, 100, 100]);
  });

  it('then backs off to one probe every 100 ms for a service that starts slowly', () => {
    const delays: number[] = [];
    let previous: number | null = 20;
    for (let i = 0; i < 5; i++) {
      previous = startupProbeDelay(2000 + i * 100, previous);
      delays.push(previous);
    }
    expect(delays).toEqual([40, 80, 100, 100, 100]);
  });

  it('probes every 20 ms for 2 s from the first probe, however long the initialDelay before it', async () => {
    const quick = await probeTimes({}, 200);
    expect(quick[0]).toBe(0);
    expect(gaps(quick).slice(0, 5)).toEqual([10, 20, 20, 20, 20]);
    for (const initialDelayMs of [1500, 2000, 5000]) {
      const delayed = await probeTimes({ initialDelayMs }, initialDelayMs + 200);
      expect(delayed[0]).toBe(initialDelayMs);
      expect(gaps(delayed).slice(0, 5)).toEqual([10, 20, 20, 20, 20]);
    }
    // And the fast probing ends 2 s after that first probe, not later: 40, 80, then every 100 ms.
    const late = await probeTimes({ initialDelayMs: 5000 }, 7500);
    const after = gaps(late.filter((t) => t >= 6990));
    expect(after.slice(0, 4)).toEqual([20, 40, 80, 100]);
    expect(after.slice(3).every((g) => g === 100)).toBe(true);
  });

  it('probes about 100 times in the 2 s after the first probe, whatever the interval (as the docs say)', async () => {
    const times = await probeTimes({ initialDelayMs: 5000, intervalMs: 10_000 }, 8000);
    expect(times.filter((t) => t < 5000)).toEqual([]);
    expect(times.filter((t) => t < 7000)).toHaveLength(101);
    // Then about 10 a second (40, 80, then every 100 ms).
    expect(times.filter((t) => t >= 7000 && t < 8000).length).toBeGreaterThanOrEqual(9);
  });
});

describe('the probe schedule of an instance that is ready', () => {
  it('counts the interval from the end of a probe, so a slow probe spaces them out (timeout + interval at most)', async () => {
    // Each exec takes 300 ms of its 500 ms timeout, and passes.
    const slow: ProbeTarget['exec'] = () =>
      new Promise((resolve) => setTimeout(() => resolve({ code: 0, signal: null, timedOut: false }), 300));
    const ends = await probeTimes(
      {
        probe: { kind: 'exec', command: { shell: false, argv: ['check'] } },
        intervalMs: 1000,
        timeoutMs: 500,
      },
      5000,
      slow,
    );
    expect(ends).toEqual([300, 1600, 2900, 4200]);
  });
});

describe('probes msup could not make for a shortage', () => {
  /** A liveness monitor whose exec probe always fails with `code`: its warnings and failures over `forMs`. */
  async function shortage(code: string, forMs: number, liveness = true) {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const seen = { warned: [] as string[], counted: 0, unready: [] as string[] };
    const monitor = startMonitor(
      {
        probe: { kind: 'exec', command: { shell: false, argv: ['check'] } },
        intervalMs: 1000,
        timeoutMs: 1000,
        failureThreshold: 3,
        successThreshold: 1,
        initialDelayMs: 0,
      },
      {
        endpoint: null,
        exec: () => Promise.reject(Object.assign(new Error(`spawn check ${code}`), { code })),
      },
      {
        onReady: () => {},
        onUnready: (detail) => seen.unready.push(detail),
        onResult: () => {
          seen.counted++;
        },
        onInconclusive: (_detail, kind) => seen.warned.push(kind),
      },
      liveness,
    );
    await vi.advanceTimersByTimeAsync(forMs);
    await monitor.stop();
    vi.useRealTimers();
    return seen;
  }

  it('never counts msup running out of descriptors against the instance', async () => {
    const seen = await shortage('EMFILE', 120_000);
    expect(seen).toEqual({ warned: ['descriptors'], counted: 0, unready: [] });
  });

  it(`counts a want of processes again after ${PROCESS_SHORTAGE_LIMIT_MS / 1000} s in a row: the instance may be the one using them up`, async () => {
    const early = await shortage('EAGAIN', PROCESS_SHORTAGE_LIMIT_MS - 1000);
    expect(early).toEqual({ warned: ['processes'], counted: 0, unready: [] });
    const late = await shortage('EAGAIN', PROCESS_SHORTAGE_LIMIT_MS + 4000);
    expect(late.warned).toEqual(['processes']);
    expect(late.counted).toBeGreaterThanOrEqual(3);
    expect(late.unready).toEqual([
      `exec failed: spawn check EAGAIN (out of processes for ${PROCESS_SHORTAGE_LIMIT_MS / 1000} s: counted)`,
    ]);
    // Readiness never counts them: every instance of the service would leave rotation at once.
    const readiness = await shortage('EAGAIN', PROCESS_SHORTAGE_LIMIT_MS * 3, false);
    expect(readiness).toEqual({ warned: ['processes'], counted: 0, unready: [] });
  });
});
