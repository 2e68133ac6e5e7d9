// What a failed exec probe shows of its command's output (probe.ts): the end of it, on one line, with
// nothing a terminal would act on, beside the exit code; a command that wrote nothing shows the code only.
import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../src/contract.js';
import { OUTPUT_SHOWN_CHARS, runProbe, shownOutput } from '../../src/health/probe.js';

/** The exec probe's verdict when a runtime's exec came to `result`. */
const probeOf = (result: CommandResult) =>
  runProbe(
    { kind: 'exec', command: { shell: false, argv: ['check'] } },
    { endpoint: null, exec: async () => result },
    1000,
  );

describe("an exec probe's output", () => {
  it('is shown after the exit code, the signal or the timeout of a failure, and never for a pass', async () => {
    expect(
      await probeOf({ code: 1, signal: null, timedOut: false, output: 'db: connection refused\n' }),
    ).toEqual({
      ok: false,
      detail: 'exec exited with code 1; last output: "db: connection refused"',
      reason: 'exec exited with code 1',
    });
    expect(await probeOf({ code: null, signal: 'SIGSEGV', timedOut: false, output: 'core dumped' })).toEqual({
      ok: false,
      detail: 'exec ended by SIGSEGV; last output: "core dumped"',
      reason: 'exec ended by SIGSEGV',
    });
    // Killed at its timeout: how far it got.
    expect(
      await probeOf({ code: null, signal: null, timedOut: true, output: 'waiting for the db\n' }),
    ).toEqual({
      ok: false,
      detail: 'exec timed out after 1000ms; last output: "waiting for the db"',
      reason: 'exec timed out after 1000ms',
    });
    expect(await probeOf({ code: 0, signal: null, timedOut: false, output: 'all good' })).toEqual({
      ok: true,
      detail: 'exec exited with code 0',
    });
    expect(await probeOf({ code: 2, signal: null, timedOut: false, output: '\n \t\n' })).toEqual({
      ok: false,
      detail: 'exec exited with code 2',
    });
  });

  it('keeps its end, on one line, with every character a terminal acts on escaped', () => {
    expect(shownOutput(`${'a'.repeat(1000)}END`)).toBe(`"…${'a'.repeat(OUTPUT_SHOWN_CHARS - 3)}END"`);
    expect(shownOutput('one\r\ntwo\tthree')).toBe('"one\\r\\ntwo\\tthree"');
    // C0 controls (ESC), DEL, C1 controls (CSI), line separators and bidirectional overrides.
    expect(shownOutput('\u001b[2Ja\u007fb\u009b2Jc\u2028d\u202ee')).toBe(
      '"\\u001b[2Ja\\u007fb\\u009b2Jc\\u2028d\\u202ee"',
    );
    // Quotes and backslashes as JSON writes them, and never half of a character at the start.
    expect(shownOutput('say "hi" \\ bye')).toBe('"say \\"hi\\" \\\\ bye"');
    expect(shownOutput(`${'😀'.repeat(200)}y`)).toBe(`"…${'😀'.repeat(149)}y"`);
  });
});
