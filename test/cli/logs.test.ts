// `msup logs` against a running msup: where the recent records end and the live ones begin, no line is
// missed and none is shown twice; log files (or their folder) deleted under it are written again.
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
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

/**
 * Five lines to stderr; at the first SIGUSR2 (sent once they are stored, so these are stored after them)
 * twenty to stdout; then, at each SIGUSR2, one more, to stdout (o21, o22, ...) and to stderr (e6, e7, ...) in turn.
 */
const BOTH = `let e = '';
for (let i = 1; i <= 5; i++) e += 'e' + i + '\\n';
let o = '';
for (let i = 1; i <= 20; i++) o += 'o' + i + '\\n';
process.stderr.write(e);
let k = -1;
process.on('SIGUSR2', () => {
  k++;
  if (k === 0) process.stdout.write(o);
  else if (k % 2) process.stdout.write('o' + (20 + (k + 1) / 2) + '\\n');
  else process.stderr.write('e' + (5 + k / 2) + '\\n');
});
setInterval(() => {}, 1000);
process.on('SIGTERM', () => process.exit(0));`;

/** At SIGUSR2, a line to each stream, then exit 1: msup logs `exited`, a warning (restart: never). */
const CRASH = `process.on('SIGUSR2', () => {
  process.stderr.write('bad e\\n');
  process.stdout.write('bad o\\n');
  process.exit(1);
});
setInterval(() => {}, 1000);
process.on('SIGTERM', () => process.exit(0));`;

type Project = ReturnType<typeof project>;
/** A record as stored, and as msup logs --json prints it. */
interface Stored {
  kind: string;
  time: string;
  service: string;
  stream?: string;
  line?: string;
  level?: string;
  msg?: string;
  fields?: { service?: string };
}

/** The records of `.msup/logs/<name>.log`, as stored. */
function stored(p: Project, name: string): Stored[] {
  const file = path.join(p.root, '.msup', 'logs', `${name}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Stored);
}

/** web (BOTH) and bad (CRASH) under a running msup, web's first 25 lines stored; their pids. */
async function bothStreams(p: Project) {
  p.writeConfig({
    web: { command: [process.execPath, '-e', BOTH] },
    bad: { command: [process.execPath, '-e', CRASH], restart: 'never' },
  });
  const msup = runCli(p, ['start', '--json']);
  await msup.waitForOutput(/"msg":"all ready"/);
  const status = JSON.parse((await finish(runCli(p, ['status', '--json']))).out) as {
    services: { name: string; instances: { pid: number }[] }[];
  };
  const pid = (name: string) => status.services.find((s) => s.name === name)?.instances[0]?.pid as number;
  expect(await waitFor(() => stored(p, 'web').length === 5)).toBe(true);
  process.kill(pid('web'), 'SIGUSR2'); // its stdout lines, after the stderr ones
  expect(await waitFor(() => stored(p, 'web').length === 25)).toBe(true);
  return { msup, web: pid('web'), bad: pid('bad') };
}

/** bad's crash, once stored: its two lines and msup's `exited` warning. */
async function crash(p: Project, pid: number) {
  process.kill(pid, 'SIGUSR2');
  const exited = () => stored(p, 'msup').some((r) => r.msg === 'exited' && r.service === 'bad');
  expect(await waitFor(() => stored(p, 'bad').length === 2 && exited())).toBe(true);
}

/** `msup logs ARGS`, which succeeds and says nothing on stderr: its output. */
async function logs(p: Project, args: string[], env?: Record<string, string>) {
  const run = await finish(runCli(p, ['logs', ...args], env ? { env } : {}));
  expect(run.err).toBe('');
  expect(run.code).toBe(0);
  return run.out;
}

const parsed = (out: string) =>
  out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Stored);
const name = (r: Stored) => (r.kind === 'output' ? `${r.service}:${r.line}` : `msup:${r.level}:${r.msg}`);
const numbered = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

describe('msup logs --err, --out (as pm2 logs)', () => {
  it('shows one stream, the last N of it, with a service or without (then --err has msup warnings too)', async () => {
    const p = project();
    const { msup, bad } = await bothStreams(p);
    await crash(p, bad);

    // The last 3 stderr lines, though 20 stdout lines came after them (the last 3 records hold none).
    expect(await logs(p, ['web', '--err', '-n', '3'])).toBe('web#0 | e3\nweb#0 | e4\nweb#0 | e5\n');
    expect(await logs(p, ['web', '--out', '-n', '2'])).toBe('web#0 | o19\nweb#0 | o20\n');
    expect(parsed(await logs(p, ['web', '--err', '-n', '2', '--json']))).toEqual([
      expect.objectContaining({ kind: 'output', service: 'web', stream: 'stderr', line: 'e4' }),
      expect.objectContaining({ kind: 'output', service: 'web', stream: 'stderr', line: 'e5' }),
    ]);

    // Without a service: every service's stderr lines, and msup's warn and error events (bad's exit).
    const err = parsed(await logs(p, ['--err', '-n', '1000', '--json']));
    const outputs = (records: Stored[]) =>
      records
        .filter((r) => r.kind === 'output')
        .map(name)
        .sort();
    expect(outputs(err)).toEqual([...numbered('web:e', 1, 5), 'bad:bad e'].sort());
    expect(err.filter((r) => r.kind === 'output').every((r) => r.stream === 'stderr')).toBe(true);
    const events = err.filter((r) => r.kind === 'event');
    expect(events.map((r) => r.level).filter((level) => level !== 'warn' && level !== 'error')).toEqual([]);
    expect(events.some((r) => r.msg === 'exited' && r.fields?.service === 'bad')).toBe(true);
    const warnings = stored(p, 'msup').filter((r) => r.level === 'warn' || r.level === 'error');
    expect(events).toHaveLength(warnings.length);
    // -n counts what is shown: the last 2 of them.
    expect(parsed(await logs(p, ['--err', '-n', '2', '--json']))).toEqual(err.slice(-2));
    // --out: the stdout lines, no event.
    const out = parsed(await logs(p, ['--out', '-n', '1000', '--json']));
    expect(out.map(name).sort()).toEqual([...numbered('web:o', 1, 20), 'bad:bad o'].sort());
    expect(out.every((r) => r.kind === 'output' && r.stream === 'stdout')).toBe(true);

    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });

  it('with -f: msup sends the last N of that stream, then its live lines only', async () => {
    const p = project();
    const { msup, web, bad } = await bothStreams(p);
    const err = runCli(p, ['logs', 'web', '--err', '-n', '3', '-f']);
    const out = runCli(p, ['logs', 'web', '--out', '-n', '2', '-f']);
    // Before, none (the last 3 records were stdout lines), or, filtered by the command, none either.
    await err.waitForOutput(/^web#0 \| e3\nweb#0 \| e4\nweb#0 \| e5\n$/);
    await out.waitForOutput(/^web#0 \| o19\nweb#0 \| o20\n$/);
    // Live: o21, then e6, then o22; each follower has the line after the other stream's, on its connection,
    // so what it shows is all it was sent of them.
    process.kill(web, 'SIGUSR2');
    await out.waitForOutput(/o21\n$/);
    process.kill(web, 'SIGUSR2');
    await err.waitForOutput(/e6\n$/);
    process.kill(web, 'SIGUSR2');
    await out.waitForOutput(/o22\n$/);

    // Without a service: the stderr lines and msup's warnings, live too (bad's crash).
    const all = runCli(p, ['logs', '--err', '-n', '1000', '-f', '--json']);
    const allOut = runCli(p, ['logs', '--out', '-n', '1000', '-f', '--json']);
    await all.waitForOutput(/"line":"e6"/);
    await allOut.waitForOutput(/"line":"o22"/);
    process.kill(bad, 'SIGUSR2');
    // msup logs `exited` at the child's exit, which can come before its last line is read from the pipe.
    await all.waitForOutput(/"msg":"exited".*"service":"bad"/);
    await all.waitForOutput(/"line":"bad e"/);
    await allOut.waitForOutput(/"line":"bad o"/);

    for (const follower of [err, out, all, allOut]) follower.child.kill('SIGTERM');
    const ended = await Promise.all([err, out, all, allOut].map(finish));
    for (const { code, err: said } of ended) {
      expect(said).toBe('');
      expect(code).toBe(0);
    }
    const [errEnd, outEnd, allEnd, allOutEnd] = ended.map((e) => e.out) as [string, string, string, string];
    expect(errEnd).toBe(`${numbered('web#0 | e', 3, 6).join('\n')}\n`);
    expect(outEnd).toBe(`${numbered('web#0 | o', 19, 22).join('\n')}\n`);
    const allRecords = parsed(allEnd);
    expect(allRecords.filter((r) => r.kind === 'output').map(name)).toEqual([
      ...numbered('web:e', 1, 6),
      'bad:bad e',
    ]);
    expect(allRecords.filter((r) => r.kind === 'output').every((r) => r.stream === 'stderr')).toBe(true);
    const levels = allRecords.filter((r) => r.kind === 'event').map((r) => r.level);
    expect(levels.filter((level) => level !== 'warn' && level !== 'error')).toEqual([]);
    const allOutRecords = parsed(allOutEnd);
    expect(allOutRecords.map(name)).toEqual([...numbered('web:o', 1, 22), 'bad:bad o']);
    expect(allOutRecords.every((r) => r.kind === 'output' && r.stream === 'stdout')).toBe(true);

    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });

  it('from an older msup, which sends every stream: shows the one asked for, and says N counted them all', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] } });
    // An msup from before --err: it ignores the field, answers {"tail":true} and sends the last 4 records.
    mkdirSync(path.join(p.root, '.msup'), { mode: 0o700 });
    const requests: unknown[] = [];
    const older = net.createServer((socket) => {
      socket.once('data', (data) => {
        const request = JSON.parse(String(data)) as { id: number };
        requests.push(request);
        const send = (message: object) =>
          socket.write(`${JSON.stringify({ v: 1, id: request.id, ...message })}\n`);
        send({ ok: true, result: { tail: true } });
        for (const [stream, line] of [
          ['stderr', 'e1'],
          ['stdout', 'o1'],
          ['stderr', 'e2'],
          ['stdout', 'o2'],
        ]) {
          const time = '2026-11-27T06:00:00.000Z';
          send({ event: 'line', record: { kind: 'output', time, service: 'web', index: 0, stream, line } });
        }
      });
    });
    await new Promise<void>((resolve) => older.listen(path.join(p.root, '.msup', 'control.sock'), resolve));
    try {
      const follow = runCli(p, ['logs', 'web', '--err', '-n', '4', '-f']);
      await follow.waitForOutput(/e2\n/);
      await waitFor(() => follow.stderr() !== '');
      follow.child.kill('SIGTERM');
      const { code, out, err } = await finish(follow);
      expect(out).toBe('web#0 | e1\nweb#0 | e2\n');
      expect(err).toBe(
        'msup: the running msup is older than --err: of its last 4 record(s), those of stderr are shown (restart msup for the last 4 of stderr)\n',
      );
      expect(code).toBe(0);
      expect(requests).toEqual([{ v: 1, id: 1, cmd: 'follow', service: 'web', lines: 4, stream: 'stderr' }]);
    } finally {
      await new Promise((resolve) => older.close(resolve));
    }
  });
});

describe('msup logs --timestamp (as pm2 logs)', () => {
  it("starts each line with its record's local time, YYYY-MM-DD-HH:mm:ss; --json is as without it", async () => {
    const p = project();
    const { msup, bad } = await bothStreams(p);
    await crash(p, bad);
    const [last] = parsed(await logs(p, ['web', '-n', '1', '--json']));
    // Etc/GMT-3 is 3 hours ahead of UTC, all year round.
    const local = new Date(Date.parse((last as Stored).time) + 3 * 3_600_000);
    const two = (n: number) => String(n).padStart(2, '0');
    const stamp = `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}-${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())}`;
    const TZ = 'Etc/GMT-3';
    expect(await logs(p, ['web', '-n', '1', '-t'], { TZ })).toBe(`${stamp} web#0 | o20\n`);
    expect(await logs(p, ['web', '-n', '1', '--timestamp', '--out'], { TZ })).toBe(`${stamp} web#0 | o20\n`);
    // msup's events too, before their own (UTC) time; with -f as without.
    const lines = (await logs(p, ['--err', '-n', '4', '-t'], { TZ })).split('\n').slice(0, -1);
    expect(lines).toHaveLength(4);
    for (const line of lines)
      expect(line).toMatch(/^\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d ((web|bad)#0 \| |\[\S+Z\] (WARN|ERROR) )/);
    const follow = runCli(p, ['logs', 'web', '-n', '1', '-t', '-f'], { env: { TZ } });
    await follow.waitForOutput(/o20\n/);
    follow.child.kill('SIGTERM');
    expect((await finish(follow)).out).toBe(`${stamp} web#0 | o20\n`);
    expect(await logs(p, ['-n', '30', '-t', '--json'], { TZ })).toBe(await logs(p, ['-n', '30', '--json']));

    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });
});
