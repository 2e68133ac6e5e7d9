// msup on a real terminal and on pipes: a closed terminal is a graceful stop, a reader that goes away or
// stops reading never crashes or freezes msup, and every command writes all of its output before it exits.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/runtime/proc.js';
import { BIN, runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, type Project, useProject } from '../helpers/project.js';
import { runInTerminal, statePid } from '../helpers/terminal.js';

const project = useProject();

/** A web service with a front port, and a worker that writes a line every 20 ms. */
function writeConfig(p: Project, extra: Record<string, unknown> = {}) {
  p.writeConfig({
    web: { command: ['node', fixture('echo-server.js')], instances: 2, port: 0 },
    worker: { command: ['node', fixture('worker.js')], env: { WORK_MS: 20 } },
    ...extra,
  });
}

const msupLog = (p: Project) => readFileSync(path.join(p.root, '.msup', 'logs', 'msup.log'), 'utf8');

/** Prints 1 MB a second (1,000 lines of 1 KB): a stalled reader fills up at once, and the 1 MiB backlog too. */
const LOUD = `const line = 'x'.repeat(1000); setInterval(() => { for (let i = 0; i < 50; i++) console.log(line); }, 50);`;

/** For 3 s while nobody reads msup's output: a front and `msup status` must answer all along. */
async function whileStalled(p: Project, url: string): Promise<void> {
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    expect((await request(url)).status).toBe(200);
    const status = runCli(p, ['status', '--json']);
    expect((await status.exited).code).toBe(0);
  }
}

describe('msup start on a terminal', () => {
  it('stops gracefully when its terminal is closed, and leaves no state behind', async () => {
    const p = project();
    writeConfig(p);
    const term = runInTerminal(p, ['start']);
    await term.waitForScreen(/all services ready/);
    const pid = statePid(p);
    expect(pid).toBeDefined();
    term.close();
    expect(await waitFor(() => !isAlive(pid!), 20_000)).toBe(true);
    // A graceful stop: the supervisor logged it, and removed its state file and control socket.
    expect(msupLog(p)).toMatch(/"msg":"stopped"/);
    expect(existsSync(path.join(p.root, '.msup', 'state.json'))).toBe(false);
    expect(existsSync(path.join(p.root, '.msup', 'control.sock'))).toBe(false);
    await expectNoTaggedProcesses(p.tag);
  });

  it('keeps its fronts and control socket answering while the terminal is not read (Ctrl-S)', async () => {
    const p = project();
    writeConfig(p, {
      loud: { command: ['node', '-e', LOUD] },
    });
    const term = runInTerminal(p, ['start']);
    await term.waitForScreen(/\n\s+web\s+2\/2\s+http:\/\/\S+/);
    const url = /web\s+2\/2\s+(http:\/\/\S+)/.exec(term.screen())![1]!;
    term.pause();
    // The terminal fills up within a moment at this rate; the proxy and `msup status` must not care.
    const before = term.screen().length;
    await whileStalled(p, url);
    expect(term.screen().length - before).toBeLessThan(1 << 20);
    term.resume();
    await term.waitForScreen(/line\(s\) of output dropped/);
    term.close();
    await term.exited;
  });
});

describe('msup start on a pipe', () => {
  it('keeps supervising when its stdout reader goes away (| head), with no stack trace', async () => {
    for (const flags of [[], ['--json']]) {
      const p = project();
      writeConfig(p);
      const cli = runCli(p, ['start', ...flags]);
      await cli.waitForOutput(/all (services )?ready/);
      cli.child.stdout!.destroy(); // what `| head -2` does once it has its lines
      // The worker writes every 20 ms, so msup meets the closed pipe at once; it must go on.
      await new Promise((r) => setTimeout(r, 500));
      const status = runCli(p, ['status']);
      expect((await status.exited).code).toBe(0);
      const stop = runCli(p, ['stop']);
      expect((await stop.exited).code).toBe(0);
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      expect(cli.stderr()).not.toMatch(/unexpected error|\n\s+at /);
      expect(cli.stderr()).toMatch(/its output was closed \(EPIPE\); msup goes on running/);
      expect(msupLog(p)).toMatch(/"msg":"stopped"/);
      await expectNoTaggedProcesses(p.tag);
    }
  });

  it('keeps its fronts and control socket answering while a pipe reader is stopped', async () => {
    const p = project();
    writeConfig(p, { loud: { command: ['node', '-e', LOUD] } });
    const cli = runCli(p, ['start']);
    await cli.waitForOutput(/\n\s+web\s+2\/2\s+http:\/\/\S+/);
    const url = /web\s+2\/2\s+(http:\/\/\S+)/.exec(cli.stdout())![1]!;
    cli.child.stdout!.pause();
    await whileStalled(p, url);
    cli.child.stdout!.resume();
    await cli.waitForOutput(/line\(s\) of output dropped/);
    // The log files wrote every line: they have those.
    expect(cli.stdout()).toMatch(/line\(s\) of output dropped: [^\n]*\(\.msup\/logs has them all\)/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('does not say .msup/logs has the lines it dropped when the log files could not write them either', async () => {
    const p = project();
    // A link planted in place of loud.log: msup never follows it, so no line of loud's reaches a file.
    mkdirSync(path.join(p.root, '.msup', 'logs'), { recursive: true, mode: 0o700 });
    symlinkSync('elsewhere', path.join(p.root, '.msup', 'logs', 'loud.log'));
    // 3 MB at once when the test says so (a file `go`), then a file `sent` once msup has read it all (a
    // write to a pipe returns once it is all in the pipe, on Linux).
    const burst = `const fs = require('node:fs');
      const wait = setInterval(() => {
        if (!fs.existsSync('go')) return;
        clearInterval(wait);
        process.stdout.write(('x'.repeat(1000) + '\\n').repeat(3000));
        fs.writeFileSync('sent', '');
        setInterval(() => {}, 1000);
      }, 20);`;
    p.writeConfig({ loud: { command: ['node', '-e', burst] } });
    const cli = runCli(p, ['start']);
    await cli.waitForOutput(/all services ready/);
    cli.child.stdout!.pause();
    writeFileSync(path.join(p.root, 'go'), '');
    expect(await waitFor(() => existsSync(path.join(p.root, 'sent')), 20_000)).toBe(true);
    cli.child.stdout!.resume();
    await cli.waitForOutput(/line\(s\) of output dropped.*\n/);
    const said = /\d+ line\(s\) of output dropped.*/.exec(cli.stdout())?.[0];
    // Before, it said `(.msup/logs has them all)`: loud.log had none of them.
    expect(said).toMatch(/\(\.msup\/logs has them, but for lines it could not write meanwhile: see/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    // How many, in msup.log (told at the latest at the stop).
    expect(msupLog(p)).toMatch(/"msg":"log file error: lines not written","file":"loud.log","lines":\d+/);
  });
});

/** Runs `msup ARGS` with its stdout on /dev/full, where every write fails with ENOSPC (a full disk). */
async function intoFullDisk(p: Project, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const full = openSync('/dev/full', 'w');
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: p.root,
    env: p.env(),
    stdio: ['ignore', full, 'pipe'],
  });
  closeSync(full);
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stderr };
}

describe('other commands on a pipe', () => {
  it.runIf(existsSync('/dev/full'))(
    'fails with exit 1 when its output cannot be written (a full disk)',
    async () => {
      const p = project();
      writeConfig(p);
      p.write(
        '.msup/logs/web.log',
        `${JSON.stringify({ time: new Date().toISOString(), service: 'web', index: 0, stream: 'stdout', line: 'hello' })}\n`,
      );
      for (const args of [['--help'], ['version'], ['logs', 'web', '-n', '5']]) {
        expect(await intoFullDisk(p, args), args.join(' ')).toEqual({
          code: 1,
          stderr: 'msup: cannot write output: ENOSPC\n',
        });
      }
    },
  );

  it('logs -f exits quietly with 0 when its reader goes away (| head -1)', async () => {
    const p = project();
    writeConfig(p);
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready/);
    const logs = runCli(p, ['logs', '-f', '-n', '0']);
    await logs.waitForOutput(/finished job/);
    logs.child.stdout!.destroy();
    expect(await logs.exited).toEqual({ code: 0, signal: null });
    expect(logs.stderr()).toBe('');
    msup.child.kill('SIGTERM');
    expect((await msup.exited).code).toBe(0);
  });

  it('writes all of its output before it exits (logs -n 3000 into a pipe)', async () => {
    const p = project();
    writeConfig(p);
    const records = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({
        time: new Date(1_700_000_000_000 + i).toISOString(),
        service: 'web',
        index: 0,
        stream: 'stdout',
        line: `line ${i} ${'y'.repeat(100)}`,
      }),
    );
    p.write('.msup/logs/web.log', `${records.join('\n')}\n`);
    const logs = runCli(p, ['logs', 'web', '-n', '3000']);
    expect((await logs.exited).code).toBe(0);
    const lines = logs.stdout().trimEnd().split('\n');
    expect(lines).toHaveLength(3000);
    expect(lines.at(-1)).toMatch(/line 2999 y+$/);
  });

  it('prints logs -n 10000000 of files far larger than its heap, merged by time, in a 32 MB heap', async () => {
    const p = project();
    writeConfig(p);
    // 50 MB of records (180,000 of web's, in web.log.1 and web.log, and 1,000 of api's between them).
    // Before, every record was held before the first was printed: about 70 MB of them.
    const record = (service: string, i: number, time: number) =>
      JSON.stringify({
        time: new Date(1_700_000_000_000 + time).toISOString(),
        service,
        index: 0,
        stream: 'stdout',
        line: `${service} ${i} ${'y'.repeat(200)}`,
      });
    const web = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, k) => `${record('web', from + k, (from + k) * 10)}\n`).join('');
    p.write('.msup/logs/web.log.1', web(0, 90_000));
    p.write('.msup/logs/web.log', web(90_000, 180_000));
    p.write(
      '.msup/logs/api.log',
      Array.from({ length: 1000 }, (_, i) => `${record('api', i, i * 1800 + 5)}\n`).join(''),
    );
    // Its output counted and its first and last lines kept by awk: the test does not hold 50 MB either.
    const run = spawn(
      'bash',
      [
        '-c',
        'set -o pipefail; "$0" "$1" logs -n 10000000 | awk \'NR == 1 { print } END { print NR; print }\'',
        process.execPath,
        BIN,
      ],
      {
        cwd: p.root,
        env: p.env({ NODE_OPTIONS: '--max-old-space-size=32' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    run.stdout.on('data', (d) => (out += d));
    run.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
    expect({ code, err: err.slice(0, 500) }).toEqual({ code: 0, err: '' });
    const [first, count, last] = out.trimEnd().split('\n');
    expect(first).toMatch(/^web#0 \| web 0 y+$/);
    expect(count).toBe('181000');
    expect(last).toMatch(/^web#0 \| web 179999 y+$/);
  });
});
