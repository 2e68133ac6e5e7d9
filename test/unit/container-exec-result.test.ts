// What an exec probe makes of the container engine's `exec` (exec-result.ts): the engine's own failures
// told from the probe command's exit, podman failing for want of processes taken for msup's own
// shortage, as a spawn's EAGAIN is, and an engine command killed by someone else said so. The classification only: a real shortage of processes cannot be made
// safely in a test (it would starve every process of the user's, the test runner's too).
import { describe, expect, it } from 'vitest';
import { runProbe } from '../../src/health/probe.js';
import type { EngineResult } from '../../src/runtime/container/engine.js';
import { execResult } from '../../src/runtime/container/exec-result.js';

/** The exec probe's verdict when the engine's command came to `result`. */
const probeOf = (result: EngineResult) =>
  runProbe(
    { kind: 'exec', command: { shell: false, argv: ['check'] } },
    { endpoint: null, exec: async () => execResult('podman', result, false) },
    1000,
  );

const engine = (code: number | null, stderr: string): EngineResult => ({ code, stdout: '', stderr });

describe('an exec probe through the container engine', () => {
  it("takes podman's own failure for want of processes for msup's shortage, not the instance's", async () => {
    for (const said of [
      'Error: fork/exec /usr/bin/conmon: resource temporarily unavailable',
      'Error: runtime: failed to create new OS thread: resource temporarily unavailable',
    ]) {
      expect(await probeOf(engine(125, `time="..." level=warning msg="a warning"\n${said}\n`))).toEqual({
        ok: false,
        detail: `exec failed: ${said} (EAGAIN)`,
        inconclusive: 'processes',
      });
    }
  });

  it('counts the engine failing for another reason', async () => {
    const said = 'Error: no container with name or ID "web" found: no such container';
    expect(await probeOf(engine(125, `${said}\n`))).toEqual({ ok: false, detail: `exec failed: ${said}` });
    // The OCI runtime's fork fails inside the container's cgroup: as likely the container's own process
    // limit (a leak of the instance's) as msup's user's, so it counts.
    const crun = 'Error: crun: fork: Resource temporarily unavailable: OCI runtime error';
    expect(await probeOf(engine(125, `${crun}\n`))).toEqual({ ok: false, detail: `exec failed: ${crun}` });
  });

  it("never reads a code of msup's shortage from the engine's words, which a probe command may have written", async () => {
    // A probe command that exits 127 or 126 with an `Error:` line of its own naming EMFILE: before, that
    // word made the probe inconclusive (msup short of descriptors), never counted, even by liveness.
    for (const code of [125, 126, 127]) {
      expect(await probeOf(engine(code, 'Error: open /data/x: EMFILE too many open files\n'))).toEqual({
        ok: false,
        detail: 'exec failed: Error: open /data/x: EMFILE too many open files',
      });
    }
  });

  it("passes a probe command's exit through, whatever it wrote (shown, never read)", async () => {
    // The command itself out of processes (its container's pids limit, say) is the instance's failure.
    expect(await probeOf(engine(1, 'sh: fork: Resource temporarily unavailable\n'))).toEqual({
      ok: false,
      detail: 'exec exited with code 1; last output: "sh: fork: Resource temporarily unavailable"',
      reason: 'exec exited with code 1',
    });
    expect(await probeOf(engine(2, 'Error: resource temporarily unavailable\n'))).toEqual({
      ok: false,
      detail: 'exec exited with code 2; last output: "Error: resource temporarily unavailable"',
      reason: 'exec exited with code 2',
    });
    // Exit 125 whose last line is not the engine's message: the command's own exit, passed through.
    expect(
      await probeOf(engine(125, 'Error: something\nsh: fork: resource temporarily unavailable\n')),
    ).toEqual({
      ok: false,
      detail:
        'exec exited with code 125; last output: "Error: something\\nsh: fork: resource temporarily unavailable"',
      reason: 'exec exited with code 125',
    });
    // 126 and 127 are the engine's (cannot invoke, not found), never for want of processes.
    expect(await probeOf(engine(126, 'Error: resource temporarily unavailable\n'))).toEqual({
      ok: false,
      detail: 'exec failed: Error: resource temporarily unavailable',
    });
    expect(await probeOf(engine(0, ''))).toEqual({ ok: true, detail: 'exec exited with code 0' });
  });

  it('says what ended an engine command someone else killed, what it wrote last only as output', async () => {
    // The probe command's own words (here a shortage's) are neither the reason nor a shortage of msup's.
    const killed = {
      code: null,
      signal: 'SIGKILL',
      stdout: '',
      stderr: 'checking\nprobe: spawn sh EAGAIN\n',
    };
    expect(await probeOf(killed)).toEqual({
      ok: false,
      detail:
        'exec failed: podman exec was ended by SIGKILL; last output: "checking\\nprobe: spawn sh EAGAIN"',
      reason: 'exec failed: podman exec was ended by SIGKILL',
    });
    expect(await probeOf({ code: null, signal: 'SIGTERM', stdout: '', stderr: '' })).toEqual({
      ok: false,
      detail: 'exec failed: podman exec was ended by SIGTERM',
    });
    // One that could not start at all says why, with its code: msup out of processes.
    expect(await probeOf(engine(null, 'spawn /usr/bin/podman EAGAIN'))).toEqual({
      ok: false,
      detail: 'exec failed: spawn /usr/bin/podman EAGAIN',
      inconclusive: 'processes',
    });
  });

  it('says a probe command killed inside the container was ended by that signal', async () => {
    expect(await probeOf(engine(137, ''))).toEqual({ ok: false, detail: 'exec ended by SIGKILL' });
  });

  it("shows a failed probe command's output with its exit code, as Kubernetes's event does", async () => {
    // What the command wrote on stdout, then on stderr (the engine passes them apart), without the
    // engine's own log lines.
    const result: EngineResult = {
      code: 1,
      stdout: 'checking the queue\n',
      stderr: 'time="2026-12-07T10:00:00Z" level=warning msg="an engine warning"\nqueue full\n',
    };
    expect(await probeOf(result)).toEqual({
      ok: false,
      detail: 'exec exited with code 1; last output: "checking the queue\\nqueue full"',
      reason: 'exec exited with code 1',
    });
    // The end of a long one, its escape sequences shown, never sent to a terminal.
    const long = await probeOf(engine(3, `${'x'.repeat(5000)}\u001b[31mdown\u001b[0m\n`));
    expect(long.detail).toBe(
      `exec exited with code 3; last output: "…${'x'.repeat(287)}\\u001b[31mdown\\u001b[0m"`,
    );
    // A command that wrote nothing, or nothing but white space, says its exit code only.
    expect(await probeOf({ code: 4, stdout: ' \n', stderr: '' })).toEqual({
      ok: false,
      detail: 'exec exited with code 4',
    });
  });

  it('shows what a probe command wrote before its engine command was killed at the timeout', async () => {
    const timedOut: EngineResult = {
      code: null,
      timedOut: true,
      stdout: 'waiting for the db\n',
      stderr: 'time="2026-12-07T10:00:00Z" level=warning msg="an engine warning"\n',
    };
    expect(await probeOf(timedOut)).toEqual({
      ok: false,
      detail: 'exec timed out after 1000ms; last output: "waiting for the db"',
      reason: 'exec timed out after 1000ms',
    });
    expect(await probeOf({ code: null, timedOut: true, stdout: '', stderr: '' })).toEqual({
      ok: false,
      detail: 'exec timed out after 1000ms',
    });
  });

  it("shows an engine's `Error: ` line (which the command may have written) bounded and escaped, as output is", async () => {
    // 127 with an `Error: ` last line: the engine's failure, whoever wrote it; a 500 kB line with ESC, CR
    // and a CSI (U+009B) in it.
    const said = `Error: ${'x'.repeat(500_000)}\u001b[2J\r\u009b2Jend`;
    const result = await probeOf(engine(127, `${said}\n`));
    expect(result).toEqual({
      ok: false,
      detail: `exec failed: …${'x'.repeat(289)}\\u001b[2J\\u000d\\u009b2Jend`,
    });
    // The shortage is told from the words before they are cut: the end kept, the code as before.
    const short = `Error: fork/exec ${'y'.repeat(1000)}: resource temporarily unavailable`;
    expect(await probeOf(engine(125, short))).toMatchObject({ inconclusive: 'processes' });
    expect((await probeOf(engine(125, short))).detail).toMatch(
      /^exec failed: …y+: resource temporarily unavailable \(EAGAIN\)$/,
    );
  });
});
