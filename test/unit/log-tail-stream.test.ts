// streamLogTail: the records readLogTail returns, one at a time, holding a chunk of each log at most.
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogFiles } from '../../src/log/files.js';
import { type LogFileRecord, readLogTail, streamLogTail, type TailStats } from '../../src/log/tail.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(path.dirname(dir), { recursive: true, force: true });
  dir = '';
});

const T0 = Date.UTC(2026, 10, 27, 6, 0, 0);

/** Log files in a fresh folder, rotated at `maxFileBytes`, with every rotated file kept. */
function logs(maxFileBytes: number): LogFiles {
  dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-tail-')), 'logs');
  return new LogFiles(dir, { maxFileBytes, keep: 60, maxTotalBytes: 1e12, batchMs: 0 });
}

/** All of a stream's records, and the most it held at once, read in chunks of `chunkBytes`. */
async function stream(
  options: { lines: number; service?: string; stream?: 'stdout' | 'stderr' },
  chunkBytes = 256,
) {
  const stats: TailStats = { held: 0, mostHeld: 0 };
  const records: LogFileRecord[] = [];
  for await (const record of streamLogTail(dir, { ...options, chunkBytes, stats })) records.push(record);
  expect(stats.held).toBe(0);
  return { records, mostHeld: stats.mostHeld };
}

const shown = (records: LogFileRecord[]) =>
  records.map((r) => (r.kind === 'output' ? `${r.service}:${r.line}` : `msup:${r.msg}`));

describe('streamLogTail', () => {
  it('gives what readLogTail gives, oldest first, across rotated files of several logs, holding a chunk of each', async () => {
    const files = logs(2000);
    // Three services and msup's events taking turns, with ties in time between logs: 1200 records over
    // dozens of files of 2 KB, each many times the 256-byte chunk.
    for (let i = 0; i < 300; i++) {
      const time = T0 + Math.floor(i / 2) * 10;
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `w${i} ${'é'.repeat(i % 40)}`, time });
      files.write({ service: 'api', index: 1, stream: 'stderr', line: `a${i}`, time });
      files.write({
        service: 'jobs',
        index: 0,
        stream: 'stdout',
        line: `j${i} ${'x'.repeat(60)}`,
        time: time + 5,
      });
      files.event({ level: 'info', msg: `e${i}`, time: time + 5, service: 'web' });
    }
    await files.close();
    for (const options of [
      { lines: 1 },
      { lines: 7 },
      { lines: 555 },
      { lines: 1200 },
      { lines: 10_000_000 },
      { lines: 33, service: 'web' },
      { lines: 10_000_000, service: 'jobs' },
      { lines: 10, service: 'msup' },
      { lines: 0 },
    ]) {
      const expected = await readLogTail(dir, options);
      const { records, mostHeld } = await stream(options);
      expect(shown(records), JSON.stringify(options)).toEqual(shown(expected));
      expect(records).toEqual(expected);
      // A 256-byte chunk holds 4 records at most (every line is over 64 bytes), with one cut at its edge:
      // at most 5 a log, whatever was asked. readLogTail holds every record it returns.
      expect(mostHeld, JSON.stringify(options)).toBeLessThanOrEqual(4 * 5);
    }
    expect((await stream({ lines: 10_000_000 })).records).toHaveLength(1200);
  });

  it('lets go of the files its second pass does not read before it gives a record', async () => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-tail-')), 'logs');
    mkdirSync(dir);
    const record = (service: string, at: number) =>
      `${JSON.stringify({ time: new Date(T0 + at).toISOString(), service, index: 0, stream: 'stdout', line: `${service}${at}` })}\n`;
    writeFileSync(path.join(dir, 'web.log'), record('web', 100) + record('web', 101));
    writeFileSync(path.join(dir, 'web.log.1'), record('web', 99));
    writeFileSync(path.join(dir, 'web.log.2'), record('web', 97) + record('web', 98));
    writeFileSync(path.join(dir, 'api.log'), record('api', 1)); // older than the tail: none of it shown
    /** The files of the folder this process has open. */
    const open = () => {
      const files: string[] = [];
      for (const fd of readdirSync('/proc/self/fd')) {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          if (path.dirname(target) === dir) files.push(path.basename(target));
        } catch {
          // closed meanwhile (the listing's own descriptor)
        }
      }
      return files.sort();
    };
    const records: LogFileRecord[] = [];
    let openAtFirst: string[] = [];
    for await (const record of streamLogTail(dir, { lines: 3 })) {
      // A reader at its own pace (| less): before, every file the first pass opened stayed open meanwhile,
      // api.log (no record in the tail) and web.log.2 (older than the tail) too.
      if (records.length === 0) openAtFirst = open();
      records.push(record);
    }
    expect(shown(records)).toEqual(['web:web99', 'web:web100', 'web:web101']);
    expect(openAtFirst).toEqual(['web.log', 'web.log.1']);
    expect(open()).toEqual([]);
  });

  it('reads to where its first pass began: lines appended and files rotated meanwhile are not shown', async () => {
    const files = logs(600);
    for (let i = 0; i < 40; i++)
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `n${i}`, time: T0 + i });
    await files.close();
    const expected = shown(await readLogTail(dir, { lines: 30 }));
    const records: LogFileRecord[] = [];
    for await (const record of streamLogTail(dir, { lines: 30, chunkBytes: 128 })) {
      if (records.length === 0) {
        // What a running msup does meanwhile: a line appended, then web.log rotated and a new one begun.
        const line = JSON.stringify({
          time: new Date(T0 + 99).toISOString(),
          service: 'web',
          index: 0,
          stream: 'stdout',
          line: 'later',
        });
        writeFileSync(path.join(dir, 'web.log'), `${line}\n`, { flag: 'a' });
        renameSync(path.join(dir, 'web.log'), path.join(dir, 'web.log.9'));
        writeFileSync(path.join(dir, 'web.log'), `${line}\n`);
      }
      records.push(record);
    }
    expect(shown(records)).toEqual(expected);
  });

  it('skips lines that are not records, and reads a file that ends inside a line as readLogTail does', async () => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'msup-tail-')), 'logs');
    const files = new LogFiles(dir, { batchMs: 0 });
    for (let i = 0; i < 20; i++)
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `n${i}`, time: T0 + i });
    await files.close();
    writeFileSync(path.join(dir, 'web.log'), 'not json\n\n{"time":"2026-11-27T06:00:01.000Z","serv', {
      flag: 'a',
    });
    for (const lines of [1, 5, 100]) {
      expect(shown((await stream({ lines }, 64)).records)).toEqual(shown(await readLogTail(dir, { lines })));
    }
    expect(shown((await stream({ lines: 2 })).records)).toEqual(['web:n18', 'web:n19']);
  });

  it('with a stream (msup logs --err, --out), gives the last N of that stream, however many others follow them', async () => {
    const files = logs(2000);
    // web's stderr lines, then many more stdout lines over a dozen rotated files of 2 KB (each many
    // 256-byte chunks); msup's events of each level; api's stderr lines between.
    for (let i = 0; i < 20; i++)
      files.write({ service: 'web', index: 0, stream: 'stderr', line: `e${i}`, time: T0 + i });
    files.event({ level: 'error', msg: 'boom', time: T0 + 30 });
    files.write({ service: 'api', index: 0, stream: 'stderr', line: 'a0', time: T0 + 31 });
    files.event({ level: 'warn', msg: 'careful', time: T0 + 32 });
    for (let i = 0; i < 300; i++) {
      files.write({
        service: 'web',
        index: 0,
        stream: 'stdout',
        line: `o${i} ${'x'.repeat(40)}`,
        time: T0 + 100 + i,
      });
      if (i % 50 === 0) files.event({ level: 'info', msg: `i${i}`, time: T0 + 100 + i });
    }
    await files.close();
    expect(readdirSync(dir).filter((f) => f.startsWith('web.log.')).length).toBeGreaterThan(10);
    const cases: [{ lines: number; service?: string; stream: 'stdout' | 'stderr' }, string[]][] = [
      // Before, the stream was not looked at: the last 3 records, stdout lines.
      [{ lines: 3, service: 'web', stream: 'stderr' }, ['web:e17', 'web:e18', 'web:e19']],
      [
        { lines: 2, service: 'web', stream: 'stdout' },
        [`web:o298 ${'x'.repeat(40)}`, `web:o299 ${'x'.repeat(40)}`],
      ],
      [{ lines: 1000, service: 'api', stream: 'stdout' }, []],
      // Without a service, msup's warn and error events count with stderr, its info ones with neither.
      [{ lines: 4, stream: 'stderr' }, ['web:e19', 'msup:boom', 'api:a0', 'msup:careful']],
      [
        { lines: 1000, stream: 'stderr' },
        [...Array.from({ length: 20 }, (_, i) => `web:e${i}`), 'msup:boom', 'api:a0', 'msup:careful'],
      ],
      [{ lines: 1, stream: 'stdout' }, [`web:o299 ${'x'.repeat(40)}`]],
    ];
    for (const [options, expected] of cases) {
      const { records, mostHeld } = await stream(options);
      expect(shown(records), JSON.stringify(options)).toEqual(expected);
      expect(shown(await readLogTail(dir, options)), JSON.stringify(options)).toEqual(expected);
      // What is held is the records of that stream a chunk gives, not the others read past.
      expect(mostHeld, JSON.stringify(options)).toBeLessThanOrEqual(3 * 10);
    }
    const stdout = (await stream({ lines: 1000, stream: 'stdout' })).records;
    expect(stdout).toHaveLength(300);
    expect(stdout.every((r) => r.kind === 'output' && r.stream === 'stdout')).toBe(true);
  });
  it("with a stream, skips the other stream's lines by their stored field, not by a line's text", async () => {
    const files = logs(1e9);
    // Lines whose text is the other stream's field as stored, and msup.log shared with a service named msup.
    files.write({ service: 'web', index: 0, stream: 'stdout', line: '"stream":"stderr"', time: T0 });
    files.write({ service: 'web', index: 0, stream: 'stderr', line: '"stream":"stdout"', time: T0 + 1 });
    files.write({ service: 'web', index: 0, stream: 'stdout', line: '{"stream":"stderr"}', time: T0 + 2 });
    files.write({ service: 'msup', index: 0, stream: 'stdout', line: 'own out', time: T0 + 3 });
    files.write({ service: 'msup', index: 0, stream: 'stderr', line: 'own err', time: T0 + 4 });
    files.event({ level: 'warn', msg: 'careful', stream: 'stdout', time: T0 + 5 });
    files.event({ level: 'info', msg: 'said', time: T0 + 6 });
    await files.close();
    const cases: [{ lines: number; service?: string; stream: 'stdout' | 'stderr' }, string[]][] = [
      [{ lines: 10, stream: 'stdout' }, ['web:"stream":"stderr"', 'web:{"stream":"stderr"}', 'msup:own out']],
      [{ lines: 10, stream: 'stderr' }, ['web:"stream":"stdout"', 'msup:own err', 'msup:careful']],
      [{ lines: 10, service: 'web', stream: 'stdout' }, ['web:"stream":"stderr"', 'web:{"stream":"stderr"}']],
      [{ lines: 10, service: 'web', stream: 'stderr' }, ['web:"stream":"stdout"']],
      [{ lines: 10, service: 'msup', stream: 'stdout' }, ['msup:own out']],
    ];
    for (const [options, expected] of cases) {
      expect(shown((await stream(options, 16)).records), JSON.stringify(options)).toEqual(expected);
      expect(shown(await readLogTail(dir, options)), JSON.stringify(options)).toEqual(expected);
    }
  });
});
