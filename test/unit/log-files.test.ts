// Log files on a temp folder: the stored shapes, rotation at the size limit, the total bound, and tails.
import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogFiles, type LogFilesOptions, readLogTail } from '../../src/log/files.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/processes.js';

let dir = '';
const opened: LogFiles[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
  // every folder is <temp>/logs or <temp>: remove the temp folder
  if (dir) rmSync(path.basename(dir) === 'logs' ? path.dirname(dir) : dir, { recursive: true, force: true });
  dir = '';
});

function logs(options: LogFilesOptions = {}): LogFiles {
  dir ||= path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-logs-')), 'logs');
  const files = new LogFiles(dir, { now: () => Date.UTC(2026, 0, 1), ...options });
  opened.push(files);
  return files;
}

const T0 = Date.UTC(2026, 10, 27, 6, 0, 0);
const out = (service: string, line: string, time?: number) =>
  ({ service, index: 0, stream: 'stdout', line, ...(time === undefined ? {} : { time }) }) as const;
const lines = (file: string) => readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean);
const sizes = () =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).size] as const));

describe('LogFiles', () => {
  it('writes one JSON line per record: service output to <service>.log, msup events to msup.log', async () => {
    const files = logs();
    files.write({ service: 'web', index: 1, stream: 'stderr', line: 'boom "quoted"', time: T0 });
    files.write(out('web', 'no time given'));
    files.event({ level: 'warn', msg: 'web#1 exited', time: T0 + 1, service: 'web', instance: 1, code: 1 });
    files.event({ msg: 'plain', error: new Error('why') });
    await files.close();
    await files.close();
    files.write(out('web', 'after close')); // ignored
    expect(lines('web.log').map((l) => JSON.parse(l))).toEqual([
      { time: '2026-11-27T06:00:00.000Z', service: 'web', index: 1, stream: 'stderr', line: 'boom "quoted"' },
      { time: '2026-01-01T00:00:00.000Z', service: 'web', index: 0, stream: 'stdout', line: 'no time given' },
    ]);
    expect(lines('msup.log').map((l) => JSON.parse(l))).toEqual([
      {
        time: '2026-11-27T06:00:00.001Z',
        level: 'warn',
        msg: 'web#1 exited',
        service: 'web',
        instance: 1,
        code: 1,
      },
      {
        time: '2026-01-01T00:00:00.000Z',
        level: 'info',
        msg: 'plain',
        error: { name: 'Error', message: 'why' },
      },
    ]);
  });

  it('rotates before a write would pass maxFileBytes, keeping `keep` rotated files', async () => {
    const files = logs({ maxFileBytes: 400, keep: 3 });
    for (let i = 0; i < 60; i++) files.write(out('web', `line ${String(i).padStart(3, '0')}`, T0 + i));
    await files.close();
    const found = sizes();
    expect(Object.keys(found).sort()).toEqual(['web.log', 'web.log.1', 'web.log.2', 'web.log.3']);
    for (const size of Object.values(found)) expect(size).toBeLessThanOrEqual(400);
    // the files hold consecutive runs of lines, newest in web.log
    const numbers = ['web.log.3', 'web.log.2', 'web.log.1', 'web.log'].flatMap((f) =>
      lines(f).map((l) => Number(JSON.parse(l).line.slice(5))),
    );
    expect(numbers.at(-1)).toBe(59);
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i));
    // a new LogFiles appends to the current file and counts its size
    const again = logs({ maxFileBytes: 400, keep: 3 });
    again.write(out('web', 'line 060', T0 + 60));
    await again.close();
    expect(statSync(path.join(dir, 'web.log')).size).toBeLessThanOrEqual(400);
    expect(JSON.parse(lines('web.log').at(-1) as string).line).toBe('line 060');
  });

  it('counts a file emptied in place (truncate, logrotate copytruncate) from what is left, not rotating it early', async () => {
    const files = logs({ maxFileBytes: 1000, keep: 1, batchMs: 0 });
    const write = (label: string, count: number) => {
      for (let i = 0; i < count; i++) files.write(out('web', `${label} ${i}`, T0 + i));
    };
    // Older history in web.log.1, and 800 bytes or so in web.log.
    while (!existsSync(path.join(dir, 'web.log.1'))) write('old', 1);
    write('before', 8);
    await files.settled();
    expect(statSync(path.join(dir, 'web.log')).size).toBeGreaterThan(600);
    // Emptied in place, as pm2 flush or logrotate's copytruncate would: the same file, cut to 0 bytes.
    truncateSync(path.join(dir, 'web.log'), 0);
    write('after', 4); // about 400 bytes: web.log holds them and nothing was rotated
    await files.settled();
    // Before, msup counted the 800 bytes gone: web.log was rotated a few lines on, and the older history in
    // web.log.1 replaced by a file of those lines.
    expect(lines('web.log.1').every((l) => JSON.parse(l).line.startsWith('old '))).toBe(true);
    expect(lines('web.log').map((l) => JSON.parse(l).line)).toEqual([
      'after 0',
      'after 1',
      'after 2',
      'after 3',
    ]);
    // Counted from what is left: rotated once the file itself reaches the bound.
    write('more', 10);
    await files.close();
    expect(lines('web.log.1')[0]).toMatch(/"line":"after 0"/);
  });

  it('after a rotation that failed, counts a file emptied in place from what is left, and rotates it at the bound', async () => {
    const errors: Error[] = [];
    const files = logs({ maxFileBytes: 1000, keep: 1, batchMs: 0, onError: (e) => errors.push(e) });
    const write = async (label: string, count: number) => {
      for (let i = 0; i < count; i++) {
        files.write(out('web', `${label} ${i}`, T0 + i));
        await files.settled();
      }
    };
    await write('first', 1);
    // web.log.1 a folder: the rotation cannot delete it, and fails (reported once, tried again only after
    // another maxFileBytes).
    mkdirSync(path.join(dir, 'web.log.1'));
    let i = 0;
    while (errors.length === 0 && i++ < 100) await write('full', 1);
    await write('more', 3);
    expect(errors).toHaveLength(1);
    rmSync(path.join(dir, 'web.log.1'), { recursive: true });
    // Emptied in place. Before, the file, counted at 0 after the failed rotation, went below 0 (the bytes
    // gone taken from 0), and grew to twice the bound before it was rotated.
    truncateSync(path.join(dir, 'web.log'), 0);
    await write('after', 15);
    expect(statSync(path.join(dir, 'web.log')).size).toBeLessThanOrEqual(1000);
    expect(statSync(path.join(dir, 'web.log.1')).size).toBeLessThanOrEqual(1000);
    expect(lines('web.log.1')[0]).toMatch(/"line":"after 0"/);
  });

  it('deletes the oldest rotated files, of any log, while the folder is over maxTotalBytes', async () => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-logs-')), 'logs');
    mkdirSync(dir);
    const old = Date.now() / 1000 - 3600;
    for (const [file, age] of [
      ['old.log.2', 20],
      ['old.log.1', 10],
    ] as const) {
      writeFileSync(path.join(dir, file), `${'x'.repeat(299)}\n`);
      utimesSync(path.join(dir, file), old - age, old - age);
    }
    writeFileSync(path.join(dir, 'old.log'), `${'x'.repeat(99)}\n`);
    // 300 + 300 + 100 bytes: over a bound of 600 at the first write, so old.log.2 (the oldest) goes
    const files = logs({ maxFileBytes: 400, keep: 3, maxTotalBytes: 600 });
    files.write(out('new', 'first', T0));
    expect(Object.keys(sizes()).sort()).toEqual(['new.log', 'old.log', 'old.log.1']);
    let i = 0;
    while (!Object.keys(sizes()).includes('new.log.1') && i < 100)
      files.write(out('new', 'y'.repeat(80), T0 + ++i));
    // new.log rotated: new.log.1 (~400) + old.log.1 (300) + old.log (100) is over 600, old.log.1 (older) goes
    expect(Object.keys(sizes()).sort()).toEqual(['new.log', 'new.log.1', 'old.log']);
    await files.close();
    const total = Object.values(sizes()).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(600 + 400);
  });

  it('never deletes current files, and keeps the bound under sustained output from several services', async () => {
    const files = logs({ maxFileBytes: 500, keep: 3, maxTotalBytes: 2000 });
    for (let i = 0; i < 400; i++) files.write(out(['a', 'b', 'c'][i % 3] as string, `line ${i}`, T0 + i));
    await files.close();
    const found = sizes();
    for (const name of ['a.log', 'b.log', 'c.log']) expect(found[name]).toBeGreaterThan(0);
    const total = Object.values(found).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(2000 + 3 * 500);
  });

  it('ends the line a cut write left (msup killed in the middle of one, a full disk) before writing its own', async () => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-logs-')), 'logs');
    mkdirSync(dir);
    const before = JSON.stringify({ ...out('web', 'before'), time: new Date(T0).toISOString() });
    writeFileSync(path.join(dir, 'web.log'), `${before}\n{"time":"2026-11-27T06:00:00.001Z","serv`);
    const files = logs();
    files.write(out('web', 'after', T0 + 2));
    files.write(out('web', 'and after', T0 + 3));
    await files.close();
    // Before, the first line written made one line with the cut one: neither could be read.
    const shown = async () =>
      (await readLogTail(dir, { service: 'web', lines: 10 })).map((r) => (r.kind === 'output' ? r.line : ''));
    expect(await shown()).toEqual(['before', 'after', 'and after']);
    // A file that ends with its line gets no empty one.
    const again = logs();
    again.write(out('web', 'last', T0 + 4));
    await again.close();
    expect(await shown()).toEqual(['before', 'after', 'and after', 'last']);
    const text = readFileSync(path.join(dir, 'web.log'), 'utf8');
    expect(text.split('\n').filter((l) => l === '')).toEqual(['']); // the end of the file's last line
  });

  it('reports a folder it cannot create once, and drops the lines without throwing', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'msup-logs-'));
    dir = base;
    writeFileSync(path.join(base, 'file'), '');
    const errors: Error[] = [];
    const blocked = new LogFiles(path.join(base, 'file', 'logs'), { onError: (e) => errors.push(e) });
    blocked.write(out('web', 'lost'));
    blocked.write(out('web', 'lost too'));
    await blocked.close();
    // A file where a folder of the path should be: msup's coded error for an unusable path, once.
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['MSUP_UNSAFE_PATH']);
    expect(errors[0]?.message).toMatch(/cannot be made/);
  });
});

describe('LogFiles when its files go away', () => {
  /** Writes `<label> <n>` lines to web.log (one each 20 ms) until `until()` holds; the numbers written. */
  async function writeUntil(files: LogFiles, label: string, until: () => boolean): Promise<number> {
    let n = 0;
    const done = await waitFor(() => {
      files.write(out('web', `${label} ${n++}`));
      return until();
    }, 10_000);
    expect(done).toBe(true);
    return n;
  }
  const numbers = (file: string, label: string) =>
    lines(file)
      .map((l) => JSON.parse(l).line as string)
      .filter((l) => l.startsWith(`${label} `))
      .map((l) => Number(l.slice(label.length + 1)));

  it('writes to a new file once it notices the old one was deleted, losing nothing written after that', async () => {
    const errors: Error[] = [];
    const files = logs({ batchMs: 0, onError: (e) => errors.push(e) });
    files.write(out('web', 'first'));
    expect(await waitFor(() => existsSync(path.join(dir, 'web.log')))).toBe(true);
    rmSync(path.join(dir, 'web.log'));
    const written = await writeUntil(files, 'after', () => existsSync(path.join(dir, 'web.log')));
    for (let i = 0; i < 5; i++) files.write(out('web', `later ${i}`));
    await files.close();
    // From the line that made the new file on, every line is there, in order.
    const after = numbers('web.log', 'after');
    expect(after.length).toBeGreaterThan(0);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => written - after.length + i));
    expect(numbers('web.log', 'later')).toEqual([0, 1, 2, 3, 4]);
    expect(statSync(path.join(dir, 'web.log')).mode & 0o777).toBe(0o600);
    expect(errors).toEqual([]);
  });

  it('makes its folder again, 0700, once it notices it was deleted, for the open logs and new ones', async () => {
    const errors: Error[] = [];
    const files = logs({ batchMs: 0, onError: (e) => errors.push(e) });
    files.write(out('web', 'first'));
    expect(await waitFor(() => existsSync(path.join(dir, 'web.log')))).toBe(true);
    rmSync(dir, { recursive: true });
    // A log opened after the folder went (it failed with ENOENT, and again 5 s later, for ever).
    files.write(out('api', 'new log'));
    expect(existsSync(path.join(dir, 'api.log'))).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await writeUntil(files, 'after', () => existsSync(path.join(dir, 'web.log')));
    await files.close();
    expect(numbers('web.log', 'after').length).toBeGreaterThan(0);
    expect(lines('api.log').map((l) => JSON.parse(l).line)).toEqual(['new log']);
    expect(errors).toEqual([]);
  });
});

describe('LogFiles behind the output', () => {
  /**
   * Log files with a 64 KiB bound, a batch window long enough that only a tail writes, the drops told, and
   * the 5 s between two reports on a clock the test moves.
   */
  const behind = () => {
    const told: [string, number][] = [];
    const clock = new ManualClock();
    const files = logs({
      maxQueuedBytes: 64 * 1024,
      batchMs: 60_000,
      clock,
      onDropped: (log, lines) => told.push([log, lines]),
    });
    return { files, told, clock };
  };

  it('drops the lines of a log past maxQueuedBytes waiting to be written, and tells how many', async () => {
    const { files, told, clock } = behind();
    const pad = 'x'.repeat(1000);
    const burst = (label: string) => {
      for (let i = 0; i < 1000; i++) files.write(out('web', `${label} ${i} ${pad}`, T0 + i));
    };
    // A megabyte in one go: nothing reaches the disk meanwhile, as when the disk is slower than the
    // output. Before, every line waited in msup's memory, however many.
    burst('first');
    files.event({ level: 'info', msg: 'msup.log has a bound of its own', time: T0 });
    await files.tail({ lines: 1 }); // writes what waits, and waits for it to land
    expect(told).toEqual([]); // told once the log takes lines again
    files.write(out('web', 'caught up', T0 + 2000));
    await Promise.resolve();
    const kept = (label: string) =>
      lines('web.log')
        .map((l) => JSON.parse(l).line as string)
        .filter((l) => l.startsWith(`${label} `))
        .map((l) => Number(l.split(' ')[1]));
    const first = kept('first');
    // The first lines, up to 64 KiB: about 60 of the thousand.
    expect(first.length).toBeGreaterThan(30);
    expect(first.length).toBeLessThan(100);
    expect(first).toEqual(first.map((_, i) => i));
    expect(told).toEqual([['web', 1000 - first.length]]);
    // Again within 5 s: told at the latest when the log is closed (not once per burst).
    burst('second');
    await files.tail({ lines: 1 });
    files.write(out('web', 'caught up again', T0 + 4000));
    await Promise.resolve();
    expect(told).toHaveLength(1);
    clock.advance(1000);
    await files.close();
    await Promise.resolve();
    expect(told).toEqual([
      ['web', 1000 - first.length],
      ['web', 1000 - kept('second').length],
    ]);
    expect(lines('web.log').map((l) => JSON.parse(l).line as string)).toContain('caught up again');
    expect(lines('msup.log').map((l) => JSON.parse(l).msg)).toEqual(['msup.log has a bound of its own']);
  });

  it('holds the lines that come while a tail is read without dropping them (up to 8 times the bound)', async () => {
    const told: [string, number][] = [];
    const files = logs({ maxQueuedBytes: 64 * 1024, onDropped: (log, lines) => told.push([log, lines]) });
    files.write(out('web', 'before', T0));
    // The tail holds every write until it has read; 300 KB come meanwhile, past the 64 KiB bound.
    const tail = files.tail({ lines: 1 });
    const pad = 'x'.repeat(1000);
    for (let i = 0; i < 300; i++) files.write(out('web', `held ${i} ${pad}`, T0 + i));
    await tail;
    await files.close();
    await Promise.resolve();
    expect(told).toEqual([]);
    const held = lines('web.log').filter((l) => (JSON.parse(l).line as string).startsWith('held '));
    expect(held).toHaveLength(300);
  });

  it('tells a count held back by the 5 s limit once they have passed, without a next burst', async () => {
    const { files, told, clock } = behind();
    const pad = 'x'.repeat(1000);
    const burst = async (label: string, at: number) => {
      for (let i = 0; i < 200; i++) files.write(out('web', `${label} ${i} ${pad}`, T0 + i));
      await files.tail({ lines: 1 });
      files.write(out('web', `${label} caught up`, T0 + at));
      await Promise.resolve();
    };
    await burst('first', 1000);
    expect(told).toHaveLength(1);
    clock.advance(1000);
    await burst('second', 2000);
    expect(told).toHaveLength(1); // within 5 s of the first: held back
    clock.advance(3999);
    await Promise.resolve();
    expect(told).toHaveLength(1);
    clock.advance(1);
    await Promise.resolve();
    expect(told).toHaveLength(2);
    expect(told[1]?.[1]).toBeGreaterThan(100);
    // At the stop, a count not told yet is told at once, in the call (msup.log still open then).
    clock.advance(1000);
    await burst('third', 3000);
    expect(told).toHaveLength(2);
    files.reportDrops();
    expect(told).toHaveLength(3);
    await files.close();
    await Promise.resolve();
    expect(told).toHaveLength(3);
  });
});

describe('LogFiles when a write fails', () => {
  /** A clock for a script: time moves with advance(), and its timers are run when they fall due. */
  const SCRIPT_CLOCK = `
      const clock = {
        at: 0,
        timers: new Map(),
        next: 0,
        now() { return this.at; },
        setTimeout(fn, ms) { this.timers.set(++this.next, { due: this.at + ms, fn }); return this.next; },
        clearTimeout(id) { this.timers.delete(id); },
        advance(ms) {
          this.at += ms;
          for (const [id, timer] of [...this.timers].sort((a, b) => a[1].due - b[1].due)) {
            if (timer.due > this.at || !this.timers.has(id)) continue;
            this.timers.delete(id);
            timer.fn();
          }
        },
      };`;
  /**
   * Runs `script` (an ES module given the log folder as `dir`, the built LogFiles as `LogFiles`) under a
   * 4 KiB file size limit (RLIMIT_FSIZE, as prlimit sets it): a real failed write, EFBIG, as a full disk
   * fails one with ENOSPC after the open went through. Node ignores SIGXFSZ. Its stdout, parsed.
   */
  async function underFileLimit(script: string): Promise<unknown> {
    dir = mkdtempSync(path.join(os.tmpdir(), 'msup-logs-'));
    const files = path.resolve(import.meta.dirname, '../../dist/log/files.js');
    const module = `
      import { LogFiles } from ${JSON.stringify(files)};
      const dir = process.argv[1];
      ${script}`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'prlimit',
        ['--fsize=4096:4096', process.execPath, '--input-type=module', '-e', module, dir],
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    return JSON.parse(out);
  }

  it('after a failed write (a full disk, a file size limit) opens the file again only 5 s later, reporting once', async () => {
    const out = await underFileLimit(`
      import { existsSync, readFileSync, rmSync } from 'node:fs';
      import path from 'node:path';
      const file = path.join(dir, 'web.log');
      ${SCRIPT_CLOCK}
      const errors = [];
      const logs = new LogFiles(dir, { batchMs: 0, clock, onError: (e) => errors.push(e.code) });
      const write = (line) => logs.write({ service: 'web', index: 0, stream: 'stdout', line, time: 0 });
      write('fits');
      write('x'.repeat(8000)); // past the 4 KiB limit
      while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      rmSync(file);
      // Within 5 s of the failure: not opened again (a line opens its file in the call, synchronously).
      write('within 5 s');
      const within = existsSync(file);
      clock.advance(5000);
      write('5 s later');
      const later = existsSync(file);
      await logs.close();
      const lines = readFileSync(file, 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l).line);
      process.stdout.write(JSON.stringify({ errors, within, later, lines }));`);
    // Before, the next line opened the file again and wrote to it: on a full disk every write failed,
    // and each was reported (a warning per 20 ms batch of a busy service).
    expect(out).toEqual({ errors: ['EFBIG'], within: false, later: true, lines: ['5 s later'] });
  });

  it('counts the lines a failed write and the 5 s after it lost, and tells them once the log is tried again', async () => {
    const out = await underFileLimit(`
      import { rmSync } from 'node:fs';
      import path from 'node:path';
      ${SCRIPT_CLOCK}
      const errors = [];
      const told = [];
      const logs = new LogFiles(dir, {
        batchMs: 0,
        clock,
        onError: (e) => errors.push(e.code),
        onDropped: (log, lines, why) => told.push([log, lines, why]),
      });
      const write = (line) => logs.write({ service: 'web', index: 0, stream: 'stdout', line, time: 0 });
      write('fits');
      write('x'.repeat(8000)); // past the 4 KiB limit: this one is lost (not 'fits', in the file, however written)
      while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      rmSync(path.join(dir, 'web.log')); // room again for the line written once the log is tried again
      for (let i = 0; i < 3; i++) write('within 5 s ' + i); // lost too: the log waits 5 s
      logs.event({ level: 'info', msg: 'msup.log is another file' });
      clock.advance(4999);
      write('still within 5 s');
      await Promise.resolve();
      const before = told.length;
      clock.advance(1); // the 5 s are over: the count is told
      write('5 s later'); // and the log tried again
      await Promise.resolve();
      const after = told.slice();
      await logs.close();
      await Promise.resolve();
      process.stdout.write(JSON.stringify({ errors, before, after, atClose: told.length }));`);
    // Before, the lines of those 5 s were not counted, and nothing said they were not written.
    expect(out).toEqual({ errors: ['EFBIG'], before: 0, after: [['web', 5, 'failed']], atClose: 1 });
  });
});

describe('readLogTail', () => {
  it('returns the last N records of a service across its current and rotated files', async () => {
    const files = logs({ maxFileBytes: 300, keep: 5 });
    for (let i = 0; i < 30; i++) files.write(out('web', `n${i}`, T0 + i));
    files.event({ level: 'info', msg: 'not output', time: T0 + 100 });
    await files.close();
    expect(readdirSync(dir).filter((f) => f.startsWith('web.log.')).length).toBeGreaterThanOrEqual(3);
    const tail = await readLogTail(dir, { service: 'web', lines: 12 });
    expect(tail.map((r) => (r.kind === 'output' ? r.line : r.msg))).toEqual(
      Array.from({ length: 12 }, (_, i) => `n${18 + i}`),
    );
    expect(tail[0]).toEqual({
      kind: 'output',
      time: new Date(T0 + 18).toISOString(),
      service: 'web',
      index: 0,
      stream: 'stdout',
      line: 'n18',
    });
    // more than there is: everything still on disk, oldest first
    const all = await readLogTail(dir, { service: 'web', lines: 1000 });
    expect(all.at(-1)).toMatchObject({ line: 'n29' });
    expect(all.length).toBeLessThanOrEqual(30);
    expect(all.map((r) => r.time)).toEqual([...all.map((r) => r.time)].sort());
  });

  it('reads each file once when a running msup rotates them during the read', async () => {
    const files = logs({ maxFileBytes: 300, keep: 5 });
    for (let i = 0; i < 30; i++) files.write(out('web', `n${i}`, T0 + i));
    await files.close();
    const expected = await readLogTail(dir, { service: 'web', lines: 12 });
    expect(expected.map((r) => (r.kind === 'output' ? r.line : ''))).toEqual(
      Array.from({ length: 12 }, (_, i) => `n${18 + i}`),
    );
    // Right after web.log is opened (before its first chunk is read), the files are rotated as LogFiles
    // does: each one number up, and a new web.log.
    const reading = new AbortController();
    let checks = 0;
    vi.spyOn(reading.signal, 'throwIfAborted').mockImplementation(() => {
      if (++checks !== 2) return; // the first is readLogTail's own, before anything is opened
      const numbers = readdirSync(dir)
        .flatMap((f) => {
          const match = /^web\.log(?:\.(\d+))?$/.exec(f);
          return match ? [Number(match[1] ?? 0)] : [];
        })
        .sort((a, b) => b - a);
      const file = (n: number) => path.join(dir, n === 0 ? 'web.log' : `web.log.${n}`);
      for (const n of numbers) renameSync(file(n), file(n + 1));
      writeFileSync(file(0), '');
    });
    // Before, web.log.1 was the web.log just read: its records twice, the oldest ones asked for left out.
    expect(await readLogTail(dir, { service: 'web', lines: 12, signal: reading.signal })).toEqual(expected);
    expect(checks).toBeGreaterThan(2);
  });

  it('merges every log by time when no service is given, msup events included as service "msup"', async () => {
    const files = logs();
    files.write(out('web', 'w1', T0 + 10));
    files.write(out('api', 'a1', T0 + 5));
    files.event({ level: 'info', msg: 'started', time: T0, service: 'web', instance: 0 });
    files.write(out('web', 'w2', T0 + 30));
    files.write(out('api', 'a2', T0 + 20));
    files.event({ level: 'warn', msg: 'slow', time: T0 + 25 });
    await files.close();
    const merged = await readLogTail(dir, { lines: 100 });
    expect(
      merged.map((r) => (r.kind === 'output' ? `${r.service}:${r.line}` : `${r.service}:${r.msg}`)),
    ).toEqual(['msup:started', 'api:a1', 'web:w1', 'api:a2', 'msup:slow', 'web:w2']);
    expect(merged[0]).toEqual({
      kind: 'event',
      time: new Date(T0).toISOString(),
      service: 'msup',
      level: 'info',
      msg: 'started',
      fields: { service: 'web', instance: 0 },
    });
    const last = await readLogTail(dir, { lines: 3 });
    expect(last.map((r) => r.time)).toEqual(
      [T0 + 20, T0 + 25, T0 + 30].map((t) => new Date(t).toISOString()),
    );
    expect((await readLogTail(dir, { service: 'api', lines: 10 })).map((r) => r.service)).toEqual([
      'api',
      'api',
    ]);
  });

  it('reads nothing from a missing folder or service, skips broken lines, and keeps a service named msup apart', async () => {
    expect(await readLogTail('/nonexistent/msup/logs', { lines: 5 })).toEqual([]);
    const files = logs();
    files.write(out('msup', 'a service called msup', T0 + 1));
    files.event({ level: 'info', msg: 'an event', time: T0 });
    await files.close();
    writeFileSync(
      path.join(dir, 'web.log'),
      '{"time":"2026-11-27T06:00:00.000Z","service":"web"\nnot json\n',
    );
    expect(await readLogTail(dir, { service: 'web', lines: 5 })).toEqual([]);
    expect(await readLogTail(dir, { service: 'nope', lines: 5 })).toEqual([]);
    expect(await readLogTail(dir, { lines: 0 })).toEqual([]);
    expect((await readLogTail(dir, { service: 'msup', lines: 5 })).map((r) => r.kind)).toEqual(['output']);
    expect((await readLogTail(dir, { lines: 5 })).map((r) => r.kind)).toEqual(['event', 'output']);
  });

  it('fails on a file it cannot open (not a missing one), and on a folder it cannot list', async () => {
    const files = logs();
    files.write(out('web', 'recent', T0));
    await files.close();
    // A link to itself: open() fails with ELOOP, for root too (unlike a chmod 000 file's EACCES).
    symlinkSync('web.log.1', path.join(dir, 'web.log.1'));
    // Before, the file read as empty: its reader got the one line and took it for all there was.
    await expect(readLogTail(dir, { service: 'web', lines: 5 })).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(readLogTail(dir, { lines: 5 })).rejects.toMatchObject({ code: 'ELOOP' });
    // A rotated file removed since the folder was listed is only missing: a link to nowhere (ENOENT).
    rmSync(path.join(dir, 'web.log.1'));
    symlinkSync('gone', path.join(dir, 'web.log.1'));
    expect(await readLogTail(dir, { service: 'web', lines: 5 })).toHaveLength(1);
    // The folder is a file: ENOTDIR reads as missing too; a folder that is a link loop does not.
    const loop = path.join(dir, 'loop');
    symlinkSync('loop', loop);
    await expect(readLogTail(loop, { lines: 5 })).rejects.toMatchObject({ code: 'ELOOP' });
    expect(await readLogTail(path.join(dir, 'web.log'), { lines: 5 })).toEqual([]);
  });

  it('reads each log only as far back as a merged tail reaches', async () => {
    const files = logs({ maxFileBytes: 100_000, keep: 10, maxTotalBytes: 100_000_000 });
    const pad = 'x'.repeat(60);
    // Ten services taking turns: the last 3000 records are the last 300 of each (about 30 KB).
    for (let i = 0; i < 3000; i++) {
      for (let s = 0; s < 10; s++) files.write(out(`s${s}`, `${i} ${pad}`, T0 + i * 10 + s));
    }
    await files.close();
    const reading = new AbortController();
    const chunks = vi.spyOn(reading.signal, 'throwIfAborted'); // checked before each chunk read
    const tail = await readLogTail(dir, { lines: 3000, signal: reading.signal });
    expect(tail).toHaveLength(3000);
    expect(tail.map((r) => r.time)).toEqual(
      Array.from({ length: 3000 }, (_, i) => new Date(T0 + 27_000 + i).toISOString()),
    );
    expect(tail.at(-1)).toMatchObject({ service: 's9', line: `2999 ${pad}` });
    // A 64 KiB chunk or so per log. Before, 3000 records of every log were read: about 50 chunks.
    expect(chunks.mock.calls.length).toBeLessThanOrEqual(25);
  });

  it('reads a long file backwards in chunks, with multi-byte characters across chunk edges', async () => {
    const files = logs();
    const text = 'é'.repeat(5000);
    for (let i = 0; i < 100; i++) files.write(out('web', `${i} ${text}`, T0 + i));
    await files.close();
    const tail = await readLogTail(dir, { service: 'web', lines: 40 });
    expect(tail.map((r) => (r.kind === 'output' ? r.line : ''))).toEqual(
      Array.from({ length: 40 }, (_, i) => `${60 + i} ${text}`),
    );
  });
});

describe('LogFiles batching', () => {
  it('writes a line after a quiet moment at once, and the lines right after it together, at the latest by close()', async () => {
    const files = logs({ batchMs: 60_000 });
    files.write(out('web', 'first', T0));
    expect(await waitFor(() => existsSync(path.join(dir, 'web.log')) && lines('web.log').length === 1)).toBe(
      true,
    );
    for (let i = 0; i < 50; i++) files.write(out('web', `burst ${i}`, T0 + i));
    // still within the window: nothing of the burst was written yet, not even queued
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines('web.log')).toHaveLength(1);
    await files.close();
    expect(lines('web.log').map((l) => JSON.parse(l).line)).toEqual([
      'first',
      ...Array.from({ length: 50 }, (_, i) => `burst ${i}`),
    ]);
  });

  it('writes the waiting lines once the window has passed', async () => {
    const files = logs({ batchMs: 30 });
    files.write(out('api', 'one', T0));
    files.write(out('api', 'two', T0 + 1));
    files.write(out('api', 'three', T0 + 2));
    expect(await waitFor(() => existsSync(path.join(dir, 'api.log')) && lines('api.log').length === 3)).toBe(
      true,
    );
    expect(lines('api.log').map((l) => JSON.parse(l).line)).toEqual(['one', 'two', 'three']);
  });

  it("tail() of a second follower never writes a line into the first one's read (it has that line live)", async () => {
    const files = logs({ batchMs: 60_000 });
    const logged: string[] = [];
    const log = (line: string) => {
      logged.push(line);
      files.write(out('web', line, T0 + logged.length));
    };
    for (let i = 0; i < 3; i++) log(`before ${i}`);
    // A follower drops the live lines it got before its cut: the tail has them.
    const cuts: number[] = [];
    const first = files.tail({ service: 'web', lines: 100, onCut: () => cuts.push(logged.length) });
    const second = files.tail({ service: 'web', lines: 100, onCut: () => cuts.push(logged.length) });
    // Logged while the first is read (its follower gets it live), before the second's turn.
    log('between');
    const shown = async (tail: Promise<Awaited<ReturnType<typeof files.tail>>>) =>
      (await tail).map((r) => (r.kind === 'output' ? r.line : r.msg));
    expect(await shown(first)).toEqual(['before 0', 'before 1', 'before 2']);
    log('after the first');
    expect(await shown(second)).toEqual(logged.slice(0, cuts[1]));
    expect(cuts[0]).toBe(3);
    expect(cuts[1]).toBeGreaterThanOrEqual(4);
    await files.close();
    expect((await readLogTail(dir, { service: 'web', lines: 100 })).length).toBe(5);
  });

  it("forget() writes a removed service's waiting lines and lets its file go, after a tail being read", async () => {
    const files = logs({ batchMs: 60_000 });
    files.write(out('gone', 'one', T0));
    files.write(out('web', 'kept', T0 + 1));
    files.forget('gone');
    // Written at once, not at the end of the batch window.
    expect(
      await waitFor(() => existsSync(path.join(dir, 'gone.log')) && lines('gone.log').length === 1),
    ).toBe(true);
    files.write(out('gone', 'two', T0 + 2)); // a late line opens it again
    const tail = files.tail({ lines: 100 });
    files.forget('gone'); // while the tail is read: its line waits with the others
    files.write(out('gone', 'three', T0 + 3));
    expect((await tail).map((r) => (r.kind === 'output' ? r.line : r.msg))).toEqual(['one', 'kept', 'two']);
    files.forget('msup'); // msup's own log is never let go
    await files.close();
    expect(lines('gone.log').map((l) => JSON.parse(l).line)).toEqual(['one', 'two', 'three']);
  });

  it('tail() skips a tail whose client left, and stops one being read', async () => {
    const files = logs({ batchMs: 60_000 });
    for (let i = 0; i < 3000; i++) files.write(out('web', `line ${i}`, T0 + i));
    const reading = new AbortController();
    const waiting = new AbortController();
    const cuts: string[] = [];
    const first = files.tail({
      service: 'web',
      lines: 100_000,
      signal: reading.signal,
      onCut: () => cuts.push('first'),
    });
    const second = files.tail({
      service: 'web',
      lines: 100_000,
      signal: waiting.signal,
      onCut: () => cuts.push('second'),
    });
    const third = files.tail({ service: 'web', lines: 1, onCut: () => cuts.push('third') });
    waiting.abort();
    await Promise.resolve();
    reading.abort(); // the first's turn has come: it is being read
    await expect(first).rejects.toThrow(/abort/i);
    await expect(second).rejects.toThrow(/abort/i);
    expect((await third).map((r) => (r.kind === 'output' ? r.line : ''))).toEqual(['line 2999']);
    // Before, a client's leaving changed nothing: each tail was read in full, in turn.
    expect(cuts).toEqual(['first', 'third']);
  });

  it('tail() takes the queued tail asking for the fewest lines next', async () => {
    const files = logs({ batchMs: 60_000 });
    for (let i = 0; i < 3000; i++) files.write(out('web', `line ${i}`, T0 + i));
    const cuts: string[] = [];
    const tail = (name: string, lines: number) =>
      files.tail({ service: 'web', lines, onCut: () => cuts.push(name) });
    const reading = tail('reading', 100_000);
    const big = tail('big', 100_000);
    const other = tail('other', 100_000);
    const small = tail('small', 2);
    const smaller = tail('smaller', 1);
    expect((await smaller).map((r) => (r.kind === 'output' ? r.line : ''))).toEqual(['line 2999']);
    expect((await small).map((r) => (r.kind === 'output' ? r.line : ''))).toEqual(['line 2998', 'line 2999']);
    for (const whole of [reading, big, other]) expect(await whole).toHaveLength(3000);
    // Before, in the order asked: the one-line tail waited for three reads of 3000 lines.
    expect(cuts).toEqual(['reading', 'smaller', 'small', 'big', 'other']);
  });

  it('tail() reads every line logged before its cut, the waiting batch included, and none logged after', async () => {
    const files = logs({ batchMs: 60_000, maxFileBytes: 300 });
    for (let i = 0; i < 6; i++) files.write(out('web', `before ${i}`, T0 + i));
    files.event({ level: 'info', msg: 'an event before', time: T0 + 6 });
    const service = files.tail({ service: 'web', lines: 4 });
    const all = files.tail({ lines: 100 });
    // Logged while the first tail is read (enough to rotate): written only once it is done; the
    // second one's turn comes after that (its follower drops the live lines it had before).
    for (let i = 0; i < 6; i++) files.write(out('web', `after ${i}`, T0 + 10 + i));
    expect((await service).map((r) => (r.kind === 'output' ? r.line : r.msg))).toEqual([
      'before 2',
      'before 3',
      'before 4',
      'before 5',
    ]);
    expect((await all).map((r) => (r.kind === 'output' ? r.line : r.msg))).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `before ${i}`),
      'an event before',
      ...Array.from({ length: 6 }, (_, i) => `after ${i}`),
    ]);
    await files.close();
    const tail = await readLogTail(dir, { service: 'web', lines: 100 });
    expect(tail.map((r) => (r.kind === 'output' ? r.line : ''))).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `before ${i}`),
      ...Array.from({ length: 6 }, (_, i) => `after ${i}`),
    ]);
  });
});

describe('LogFiles.settled', () => {
  it('resolves once the lines logged before it are in their files, batch included', async () => {
    const files = logs({ batchMs: 60_000 });
    files.write(out('web', 'first'));
    files.write(out('web', 'waits in its batch'));
    await files.settled();
    expect(lines('web.log').map((l) => JSON.parse(l).line)).toEqual(['first', 'waits in its batch']);
    expect(files.notWritten).toBe(0);
  });

  it('resolves at close() while a tail read is stuck (a log file that never answers)', async () => {
    const files = logs();
    files.write(out('web', 'logged'));
    await files.settled();
    // A FIFO as a log: its open for the tail waits for a writer, as a read of a stuck disk waits.
    const fifo = path.join(dir, 'stuck.log');
    await new Promise<void>((resolve, reject) =>
      execFile('mkfifo', [fifo], (error) => (error ? reject(error) : resolve())),
    );
    const tail = files.tail({ lines: 10 });
    let done = false;
    const settled = files.settled().then(() => {
      done = true;
    });
    await files.close();
    // Before, it waited for the tail, and `msup start` (waiting for it to say whether .msup/logs has every
    // line) never exited after the stop.
    const settledAtClose = await waitFor(() => done, 2000);
    // The tail gets its writer (and an empty file): it ends. Opened for reading and writing, the FIFO never
    // blocks, whether or not the tail had opened it before the close.
    closeSync(openSync(fifo, 'r+'));
    await tail;
    await settled;
    expect(settledAtClose).toBe(true);
  });
});

describe('LogFiles when a log cannot be opened', () => {
  it('tells the lines it lost once the 5 s wait is over, with no line after it', async () => {
    const clock = new ManualClock();
    const told: [string, number, string][] = [];
    const errors: string[] = [];
    const files = logs({
      batchMs: 0,
      clock,
      onError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? ''),
      onDropped: (log, lines, why) => told.push([log, lines, why]),
    });
    // A folder where web.log should be: it cannot be opened for writing (EISDIR).
    mkdirSync(path.join(dir, 'web.log'), { recursive: true });
    files.write(out('web', 'lost with the open'));
    files.write(out('web', 'lost in the wait'));
    expect(errors).toEqual(['EISDIR']);
    clock.advance(4999);
    await Promise.resolve();
    expect(told).toEqual([]);
    // The timer and the wait are on the clock the log files are given. Before, the timer was the real
    // one beside a wait on the records' clock (faked timers in this test): a clock moved on told nothing.
    clock.advance(1);
    await Promise.resolve();
    // Before, it was told only when the next line came after the wait, or at the stop: for a service
    // that died of a full disk, or went quiet, only at the stop.
    expect(told).toEqual([['web', 2, 'failed']]);
    await files.close();
    await Promise.resolve();
    expect(told).toHaveLength(1);
  });
});
