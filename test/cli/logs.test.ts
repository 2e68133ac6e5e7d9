// `msup logs` against a running msup: where the recent records end and the live ones begin, no line is
// missed and none is shown twice; log files (or their folder) deleted under it are written again.
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ControlTarget, controlHandler } from '../../src/control/handler.js';
import { ControlServer, MAX_FOLLOWERS } from '../../src/control/server.js';
import { LogFiles } from '../../src/log/files.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

/** Numbered lines, 50 every 10 ms (about 5000 a second): `tick <n>`. */
const TICK = `let n = 0;
setInterval(() => {
  let text = '';
  for (let i = 0; i < 50; i++) text += 'tick ' + n++ + '\\n';
  process.stdout.write(text);
}, 10);
process.on('SIGTERM', () => process.exit(0));`;

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('msup logs -f', () => {
  it('shows the recent records, then the live ones, with no line missed or twice between them', async () => {
    const p = project();
    p.writeConfig({ tick: { command: [process.execPath, '-e', TICK] } });
    const msup = runCli(p, ['start', '--json']);
    await msup.waitForOutput(/"msg":"all ready"/);
    // Several followers, each joining while lines pour in (each junction is a chance to lose some).
    for (let round = 0; round < 3; round++) {
      const follow = runCli(p, ['logs', 'tick', '-n', '20', '-f', '--json']);
      const count = () => follow.stdout().split('\n').length - 1;
      expect(await waitFor(() => count() >= 1500, 15_000)).toBe(true);
      follow.child.kill('SIGTERM');
      const { code, out } = await finish(follow);
      expect(code).toBe(0);
      const numbers = out
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind: string; line: string })
        .map((record) => {
          expect(record.kind).toBe('output');
          return Number(/^tick (\d+)$/.exec(record.line)?.[1]);
        });
      const gaps = numbers.flatMap((n, i) => (i > 0 && n !== (numbers[i - 1] as number) + 1 ? [i] : []));
      expect(gaps.map((i) => `${numbers[i - 1]} → ${numbers[i]} at record ${i}`)).toEqual([]);
    }
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });
});

describe('msup logs when the log files cannot be read', () => {
  it('says so on stderr, with and without -f (which goes on with the live lines); without -f it fails', async () => {
    const p = project();
    const logs = path.join(p.root, '.msup', 'logs');
    const slow = `let n = 0; setInterval(() => console.log('tick ' + n++), 20);
process.on('SIGTERM', () => process.exit(0));`;
    p.writeConfig({ tick: { command: [process.execPath, '-e', slow] } });
    const msup = runCli(p, ['start', '--json']);
    await msup.waitForOutput(/"msg":"all ready"/);
    expect(await waitFor(() => existsSync(path.join(logs, 'tick.log')))).toBe(true);
    // A rotated file that cannot be opened: a link to itself (ELOOP, as root too; EACCES or EIO alike).
    symlinkSync('tick.log.1', path.join(logs, 'tick.log.1'));
    const unreadable = /^msup: the last 100000 line\(s\) could not be read: ELOOP: .*tick\.log\.1'\n$/;

    // Before, the lines of tick.log alone, exit 0: as if the service had written nothing before them.
    const files = await finish(runCli(p, ['logs', 'tick', '-n', '100000']));
    expect(files.err).toMatch(unreadable);
    expect(files.out).toBe('');
    expect(files.code).toBe(1);

    // Before, msup sent the live lines alone.
    const follow = runCli(p, ['logs', 'tick', '-n', '100000', '-f']);
    await follow.waitForOutput(/^(tick#0 \| tick \d+\n){3}/);
    follow.child.kill('SIGTERM');
    const followed = await finish(follow);
    expect(followed.code).toBe(0);
    expect(followed.err).toMatch(unreadable);
    const json = runCli(p, ['logs', 'tick', '-n', '100000', '-f', '--json']);
    await json.waitForOutput(/\n.*\n/);
    json.child.kill('SIGTERM');
    const first = JSON.parse((await finish(json)).out.split('\n')[0] as string);
    expect(first).toEqual({
      kind: 'skipped',
      lines: 100000,
      reason: 'unreadable',
      error: expect.stringMatching(/^ELOOP: /),
    });

    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });
});

describe('msup logs -f told of skipped lines', () => {
  it('says why: a tail larger than msup holds loses its oldest lines, not a terminal too slow', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] } });
    // An msup's control socket and log files, with a small bound on the tails it holds.
    const files = new LogFiles(path.join(p.root, '.msup', 'logs'), { batchMs: 0 });
    const pad = 'x'.repeat(100);
    for (let i = 0; i < 2000; i++) {
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `line ${i} ${pad}` }); // about 450 KB
    }
    const target = Object.assign(new EventEmitter(), { instances: () => [] });
    const control = await ControlServer.open(
      p.root,
      controlHandler(target as unknown as ControlTarget, files),
      () => {},
      { heldTailsBytes: 256 * 1024 },
    );
    try {
      const follow = runCli(p, ['logs', 'web', '-n', '100000', '-f']);
      await follow.waitForOutput(/line 1999 /);
      follow.child.kill('SIGTERM');
      const { code, out } = await finish(follow);
      expect(code).toBe(0);
      // Before: `msup: N line(s) skipped: this terminal read too slowly`.
      const skipped =
        /^msup: (\d+) line\(s\) skipped: the oldest of the recent lines asked for, more than msup holds at once \(without -f, msup logs reads any number from the files\)\n/.exec(
          out,
        );
      expect(skipped, out.slice(0, 300)).not.toBeNull();
      const first = Number(skipped?.[1]);
      expect(out.slice((skipped?.[0] ?? '').length)).toMatch(new RegExp(`^web#0 \\| line ${first} x`));
    } finally {
      await control.close();
      await files.close();
    }
  });
});

describe('msup logs and the lines an older msup stored', () => {
  it('prints a line stored with the \\r of a progress bar as its last state, as msup start does', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] } });
    // What an msup before lines.ts kept a line's last state wrote: the `\r`s of the redraws, and of a CRLF.
    const files = new LogFiles(path.join(p.root, '.msup', 'logs'), { batchMs: 0 });
    const stored = ['\r[#   ] 10%\r[##  ] 50%\r[####] 100%', 'served\r', `building\r\u001b[1G\u001b[2Kbuilt`];
    for (const line of stored) files.write({ service: 'web', index: 0, stream: 'stdout', line });
    await files.close();
    const { code, out } = await finish(runCli(p, ['logs', 'web', '-n', '5']));
    // Before, the `\r`s were printed after `web#0 | `: on a terminal each drew over the prefix.
    expect(out).toBe('web#0 | [####] 100%\nweb#0 | served\nweb#0 | built\n');
    expect(code).toBe(0);
  });
});

describe('msup logs -f past the followers msup serves', () => {
  it('prints the last records from the files, then fails with MSUP_CONTROL (exit 1)', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] } });
    const files = new LogFiles(path.join(p.root, '.msup', 'logs'), { batchMs: 0 });
    for (let i = 0; i < 3; i++)
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `line ${i}` });
    const target = Object.assign(new EventEmitter(), { instances: () => [] });
    const control = await ControlServer.open(
      p.root,
      controlHandler(target as unknown as ControlTarget, files),
    );
    const followers: net.Socket[] = [];
    try {
      // As many followers as msup serves, on connections of their own, none reading.
      const follower = () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(control.path);
          socket.once('data', () => resolve(socket));
          socket.once('error', reject);
          socket.write('{"v":1,"id":1,"cmd":"follow"}\n');
        });
      for (let i = 0; i < MAX_FOLLOWERS; i++) followers.push(await follower());
      // Before, it was one more follower (each holds up to 1 MiB of live lines for a reader that stops).
      const { code, out, err } = await finish(runCli(p, ['logs', 'web', '-n', '5', '-f']));
      expect(out).toBe('web#0 | line 0\nweb#0 | line 1\nweb#0 | line 2\n');
      expect(err).toBe(
        `msup: too many followers: ${MAX_FOLLOWERS} already get the live lines (msup logs -f), the most msup serves at once; end one of them, or read the log files with msup logs -n N (without -f) [MSUP_CONTROL]\n`,
      );
      expect(code).toBe(1);
    } finally {
      for (const socket of followers) socket.destroy();
      await control.close();
      await files.close();
    }
  });
});

describe('msup logs -f with no msup running', () => {
  it('prints the last records from the files, then fails with MSUP_NOT_RUNNING (exit 4)', async () => {
    const p = project();
    p.writeConfig({
      hello: { command: [process.execPath, '-e', "console.log('hello once'); setInterval(() => {}, 1000)"] },
    });
    expect((await finish(runCli(p, ['start', '--detach', '--no-admin']))).code).toBe(0);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    const follow = await finish(runCli(p, ['logs', '-f', '-n', '5']));
    expect(follow.code).toBe(4);
    expect(follow.out).toMatch(/^hello#0 \| hello once$/m);
    expect(follow.err).toMatch(/^msup: no msup is running for .* \[MSUP_NOT_RUNNING\]\n$/);
  });
});

describe('log files deleted while msup runs', () => {
  it('are written again: a deleted file within a second or so, a deleted folder made again 0700', async () => {
    const p = project();
    const logs = path.join(p.root, '.msup', 'logs');
    const file = path.join(logs, 'tick.log');
    const slow = `let n = 0; setInterval(() => console.log('tick ' + n++), 20);
process.on('SIGTERM', () => process.exit(0));`;
    p.writeConfig({ tick: { command: [process.execPath, '-e', slow] } });
    const msup = runCli(p, ['start', '--json']);
    await msup.waitForOutput(/"msg":"all ready"/);
    expect(await waitFor(() => existsSync(file))).toBe(true);

    const lineCount = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);
    rmSync(file);
    expect(await waitFor(() => lineCount() >= 3)).toBe(true);
    const recent = await finish(runCli(p, ['logs', 'tick', '-n', '3']));
    expect(recent.out).toMatch(/^(tick#0 \| tick \d+\n){3}$/);

    rmSync(logs, { recursive: true });
    expect(await waitFor(() => existsSync(file))).toBe(true);
    expect(statSync(logs).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // msup's own events go to a new msup.log too.
    expect((await finish(runCli(p, ['scale', 'tick=2']))).code).toBe(0);
    const events = path.join(logs, 'msup.log');
    expect(
      await waitFor(() => existsSync(events) && /"msg":"scaling"/.test(readFileSync(events, 'utf8'))),
    ).toBe(true);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });
});
