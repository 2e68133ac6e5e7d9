// The LAST EXIT column of `msup status`: an instance msup stopped for its health is not shown as a clean end,
// whatever its exit code.
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/format-status.js';

const at = Date.UTC(2026, 11, 6, 12, 0, 0);

function status(lastExit: Record<string, unknown>) {
  return {
    version: 1,
    pid: 1,
    startedAt: new Date(at - 60_000).toISOString(),
    project: '/p',
    configFile: null,
    services: [
      {
        name: 'web',
        url: null,
        instances: [
          {
            index: 0,
            pid: null,
            port: 3000,
            state: 'stopped',
            ready: false,
            restarts: 0,
            uptimeMs: null,
            cpuPercent: null,
            memoryBytes: null,
            lastExit,
          },
        ],
      },
    ],
  };
}

describe('the last exit in msup status', () => {
  it('names the health reason of an instance msup stopped, beside its code', () => {
    const row = (lastExit: Record<string, unknown>) =>
      formatStatus(status(lastExit) as never, at)
        .split('\n')
        .find((l) => l.startsWith('web'));
    expect(row({ code: 0, signal: null, unhealthy: true, reason: 'not ready in time' })).toMatch(
      / code 0 \(not ready in time\)$/,
    );
    expect(row({ code: null, signal: 'SIGKILL', unhealthy: true, reason: 'liveness probe failed' })).toMatch(
      / SIGKILL \(liveness probe failed\)$/,
    );
    expect(row({ code: 0, signal: null })).toMatch(/ code 0$/);
  });
});
