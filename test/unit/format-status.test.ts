// The LAST EXIT column of `msup status`: an instance msup stopped for its health is not shown as a clean end,
// whatever its exit code. A failed last probe under its instance's row: one line, escaped, capped.
import { describe, expect, it } from 'vitest';
import { formatStatus, PROBE_LINE_CHARS } from '../../src/cli/format-status.js';

const at = Date.UTC(2026, 11, 6, 12, 0, 0);

function status(lastExit: Record<string, unknown> | null, lastProbe: Record<string, unknown> | null = null) {
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
            lastProbe,
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

describe('the last probe in msup status', () => {
  const probed = (ok: boolean, detail: string) =>
    formatStatus(status(null, { ok, detail, at: new Date(at - 3000).toISOString() }) as never, at).split(
      '\n',
    );

  it("shows a failed one under its instance's row, with its age, and nothing for a passed one", () => {
    const lines = probed(false, 'exec exited with code 1; last output: "db down"');
    const row = lines.findIndex((l) => l.startsWith('web'));
    expect(lines[row + 1]).toBe(
      '  readiness probe failed 3s ago: exec exited with code 1; last output: "db down"',
    );
    expect(probed(true, 'GET /health answered 200').join('\n')).not.toContain('probe');
    expect(formatStatus(status(null) as never, at)).not.toContain('probe');
  });

  it('keeps it on one line, escaped, and capped at its start and its end', () => {
    // A runtime's error may hold anything: a newline, an escape, a CSI, a bidirectional override.
    const [, , , line] = probed(false, 'exec failed: boom\n\u001b[2J\u009b2J\u202eend');
    expect(line).toBe(
      '  readiness probe failed 3s ago: exec failed: boom\\u000a\\u001b[2J\\u009b2J\\u202eend',
    );
    const long = `exec exited with code 1; last output: "${'x'.repeat(1000)}the end"`;
    const capped = probed(false, long)[3]!.replace('  readiness probe failed 3s ago: ', '');
    expect(Array.from(capped)).toHaveLength(PROBE_LINE_CHARS);
    expect(capped).toMatch(/^exec exited with code 1; last output: "x+…x+the end"$/);
    // Never half of a character made of two UTF-16 units.
    const emoji = probed(false, '😀'.repeat(300))[3]!.replace('  readiness probe failed 3s ago: ', '');
    expect(emoji).toBe(`${'😀'.repeat(80)}…${'😀'.repeat(PROBE_LINE_CHARS - 81)}`);
  });

  it('caps it between escapes, never inside one, the escapes counted in the cap', () => {
    // 13 + 11 escapes of 6 make 79: a 12th would cross the 80 of the start; the end has 200 - 79 - 1 = 120
    const detail = `exec failed: ${'\u001b'.repeat(100)}the end`;
    const capped = probed(false, detail)[3]!.replace('  readiness probe failed 3s ago: ', '');
    expect(capped).toBe(`exec failed: ${'\\u001b'.repeat(11)}…${'\\u001b'.repeat(18)}the end`);
    expect(capped.length).toBeLessThanOrEqual(PROBE_LINE_CHARS);
  });
});
