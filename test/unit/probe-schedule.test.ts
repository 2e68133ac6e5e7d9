import { describe, expect, it } from 'vitest';
import { startupProbeDelay } from '../../src/health/monitor.js';

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
});
