// The control server forgets a `logs -f` follower once its connection closes: a long-running msup
// followed many times over keeps nothing of the followers that left.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { controlFollow } from '../../src/control/client.js';
import { type ControlTarget, controlHandler } from '../../src/control/handler.js';
import { ControlServer, MAX_FOLLOWERS } from '../../src/control/server.js';
import { MsupError } from '../../src/errors.js';
import { LogFiles } from '../../src/log/files.js';
import type { OutputLine } from '../../src/types.js';
import { fakeControl } from '../helpers/control.js';
import { waitFor } from '../helpers/processes.js';

const roots: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Follows on a new connection; resolves once the server answered, with the connection. */
function follow(socketPath: string, request = '{"v":1,"id":1,"cmd":"follow"}'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.setEncoding('utf8');
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
    socket.write(`${request}\n`);
  });
}

describe('control socket followers', () => {
  it('are forgotten when their connection closes', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    let unsubscribed = 0;
    const control = await fakeControl(root, {
      follow: () => () => {
        unsubscribed++;
      },
    });
    const clients = await Promise.all(Array.from({ length: 5 }, () => follow(control.path)));
    for (const client of clients) client.destroy();
    // Each follower's subscription ends on its connection's 'close', after the server forgot it.
    expect(await waitFor(() => unsubscribed === 5)).toBe(true);
    const ended = vi.spyOn(net.Socket.prototype, 'end');
    const closing = control.close();
    // Before, close() ended each follower that had long gone: they were all still kept.
    expect(ended).not.toHaveBeenCalled();
    await closing;
  });

  it('are bounded: one more is refused with MSUP_CONTROL, a second follow on a connection counts, one that leaves makes room', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    let subscribed = 0;
    const control = await fakeControl(root, {
      follow: () => {
        subscribed++;
        return () => {
          subscribed--;
        };
      },
    });
    const clients: net.Socket[] = [];
    try {
      // Each holds up to 1 MiB of live lines when it does not read: before, any number were taken.
      for (let i = 0; i < MAX_FOLLOWERS; i++) clients.push(await follow(control.path));
      expect(subscribed).toBe(MAX_FOLLOWERS);
      const refusal = {
        v: 1,
        id: 2,
        ok: false,
        error: {
          code: 'MSUP_CONTROL',
          message: `too many followers: ${MAX_FOLLOWERS} already get the live lines (msup logs -f), the most msup serves at once; end one of them, or read the log files with msup logs -n N (without -f)`,
        },
      };
      const ask = (socket: net.Socket, request: string) =>
        new Promise<unknown>((resolve) => {
          socket.once('data', (d) => resolve(JSON.parse(String(d))));
          socket.write(`${request}\n`);
        });
      const more = net.connect(control.path);
      clients.push(more);
      expect(await ask(more, '{"v":1,"id":2,"cmd":"follow"}')).toEqual(refusal);
      // Its connection stays open for other requests: only the follow is refused.
      expect(await ask(more, '{"v":1,"id":3,"cmd":"ping"}')).toEqual({ v: 1, id: 3, ok: true, result: null });
      const first = clients[0] as net.Socket;
      expect(await ask(first, '{"v":1,"id":2,"cmd":"follow"}')).toEqual(refusal);
      expect(subscribed).toBe(MAX_FOLLOWERS);
      first.destroy();
      expect(await waitFor(() => subscribed === MAX_FOLLOWERS - 1)).toBe(true);
      const next = await follow(control.path);
      clients.push(next);
      expect(subscribed).toBe(MAX_FOLLOWERS);
    } finally {
      for (const client of clients) client.destroy();
      await control.close();
    }
  });

  it('of a service the config names are taken while msup is still starting, before the service exists', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    // The supervisor between its control socket and its services (an image being built for minutes).
    const target = Object.assign(new EventEmitter(), {
      config: { services: [{ name: 'web' }] },
      instances: () => {
        throw new MsupError('MSUP_STOPPED', 'the supervisor is still starting');
      },
    });
    const control = await ControlServer.open(root, controlHandler(target as unknown as ControlTarget));
    try {
      const records: unknown[] = [];
      // Before, refused: `msup logs -f web` failed with "the supervisor is still starting [MSUP_STOPPED]".
      const following = await controlFollow(root, { service: 'web' }, (record) => records.push(record));
      target.emit('output', { service: 'api', index: 0, stream: 'stdout', line: 'not this one' });
      target.emit('output', { service: 'web', index: 0, stream: 'stdout', line: 'web is up' });
      expect(await waitFor(() => records.length > 0)).toBe(true);
      expect(records).toEqual([
        expect.objectContaining({ kind: 'output', service: 'web', line: 'web is up' }),
      ]);
      following.close();
      await following.done;
      // A name the config does not have is still asked of the supervisor (which fails it).
      await expect(controlFollow(root, { service: 'wbe' }, () => {})).rejects.toMatchObject({
        code: 'MSUP_STOPPED',
      });
    } finally {
      await control.close();
    }
  });

  it('skip the tail of a client that left, and a new follower gets its tail and the live lines after it', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const files = new LogFiles(path.join(root, 'logs'), { batchMs: 0 });
    const target = new EventEmitter();
    let logged = 0;
    const log = () => {
      const line: OutputLine = { service: 'web', index: 0, stream: 'stdout', line: `line ${logged++}` };
      files.write(line);
      target.emit('output', line);
    };
    for (let i = 0; i < 20_000; i++) log();
    let read = 0;
    let stopped = 0;
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget, {
        tail: (options) => {
          const tail = files.tail(options);
          tail.then(
            () => read++,
            () => stopped++,
          );
          return tail;
        },
      }),
    );
    const ticker = setInterval(log, 1);
    try {
      for (let i = 0; i < 10; i++) {
        const client = await follow(
          control.path,
          '{"v":1,"id":1,"cmd":"follow","service":"web","lines":100000}',
        );
        client.destroy();
      }
      const fresh = await follow(control.path, '{"v":1,"id":2,"cmd":"follow","service":"web","lines":3}');
      const got: number[] = [];
      let text = '';
      fresh.on('data', (data: string) => {
        text += data;
        const lines = text.split('\n');
        text = lines.pop() ?? '';
        for (const line of lines) got.push(Number(/line (\d+)/.exec(JSON.parse(line).record.line)?.[1]));
      });
      expect(await waitFor(() => got.length >= 8, 20_000)).toBe(true);
      fresh.destroy();
      // Its tail, then the live lines: each line once, none missing where they meet.
      expect(got.slice(0, 8)).toEqual(Array.from({ length: 8 }, (_, i) => (got[0] as number) + i));
      // Before, every tail was read in full (100000 lines each) for clients long gone, one after
      // another, and no line was written to a file meanwhile.
      expect(await waitFor(() => read + stopped === 11)).toBe(true);
      expect(stopped).toBeGreaterThanOrEqual(9);
    } finally {
      clearInterval(ticker);
      await control.close();
      await files.close();
    }
  });

  it('whose tail cannot be read are told so where it would have been, then get the live lines', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const dir = path.join(root, 'logs');
    const files = new LogFiles(dir, { batchMs: 0 });
    const target = new EventEmitter();
    let logged = 0;
    const log = () => {
      const line: OutputLine = { service: 'web', index: 0, stream: 'stdout', line: `line ${logged++}` };
      files.write(line);
      target.emit('output', line);
    };
    for (let i = 0; i < 5; i++) log();
    // A rotated file that cannot be opened (a link to itself: ELOOP, as root too; EACCES, EIO alike).
    symlinkSync('web.log.1', path.join(dir, 'web.log.1'));
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget, files),
    );
    const ticker = setInterval(log, 5);
    try {
      const client = await follow(control.path, '{"v":1,"id":1,"cmd":"follow","service":"web","lines":50}');
      const got = numbers(client);
      expect(await waitFor(() => got.records.length >= 3)).toBe(true);
      client.destroy();
      // Before, it got the live lines alone, as if the service had written nothing before them.
      expect(got.notices).toEqual([
        {
          kind: 'skipped',
          lines: 50,
          reason: 'unreadable',
          error: expect.stringMatching(/^ELOOP: .*web\.log\.1'$/),
        },
      ]);
      expect(got.stream[0]).toEqual({ skipped: 50 });
      const first = got.records[0] as number;
      expect(first).toBeGreaterThanOrEqual(5);
      expect(got.records.slice(0, 3)).toEqual([first, first + 1, first + 2]);
    } finally {
      clearInterval(ticker);
      await control.close();
      await files.close();
    }
  });

  it('asking for a few lines do not wait behind the reads of larger tails asked before', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const files = new LogFiles(path.join(root, 'logs'), { batchMs: 0 });
    const target = new EventEmitter().setMaxListeners(0);
    for (let i = 0; i < 20_000; i++) {
      files.write({ service: 'web', index: 0, stream: 'stdout', line: `line ${i}` });
    }
    let asked = 0;
    let read = 0;
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget, {
        tail: (options) => {
          asked++;
          const tail = files.tail(options);
          void tail.then(() => read++);
          return tail;
        },
      }),
    );
    const clients: net.Socket[] = [];
    try {
      // Ten followers asking for every line, reading nothing: their tails are read one after another.
      for (let i = 0; i < 10; i++) {
        const client = net.connect(control.path);
        client.on('error', () => {});
        client.write('{"v":1,"id":1,"cmd":"follow","service":"web","lines":100000}\n');
        client.pause();
        clients.push(client);
      }
      expect(await waitFor(() => asked === 10)).toBe(true);
      const fresh = await follow(control.path, '{"v":1,"id":2,"cmd":"follow","service":"web","lines":3}');
      clients.push(fresh);
      const got = numbers(fresh);
      // How many larger tails were read when its own arrived.
      let readBefore = -1;
      fresh.on('data', () => {
        if (readBefore === -1 && got.records.length === 3) readBefore = read;
      });
      expect(await waitFor(() => got.records.length === 3)).toBe(true);
      expect(got.records).toEqual([19_997, 19_998, 19_999]);
      // Before, its three lines came only after all ten larger tails were read.
      expect(readBefore).toBeLessThan(10);
      expect(await waitFor(() => read === 11, 20_000)).toBe(true);
    } finally {
      for (const client of clients) client.destroy();
      await control.close();
      await files.close();
    }
  });

  it('that do not read keep no more than the bound of tails in msup; the one that read least is told what it missed', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const files = new LogFiles(path.join(root, 'logs'), { batchMs: 0 });
    const target = new EventEmitter().setMaxListeners(0);
    let logged = 0;
    const pad = 'x'.repeat(100);
    const log = () => {
      const line: OutputLine = {
        service: 'web',
        index: 0,
        stream: 'stdout',
        line: `line ${logged++} ${pad}`,
      };
      files.write(line);
      target.emit('output', line);
    };
    for (let i = 0; i < 2000; i++) log(); // each tail about 450 KB as sent
    let read = 0;
    const bound = 1024 * 1024;
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget, {
        tail: (options) => {
          const tail = files.tail(options);
          void tail.then(() => read++);
          return tail;
        },
      }),
      () => {},
      { heldTailsBytes: bound },
    );
    const ticker = setInterval(log, 1);
    const clients: net.Socket[] = [];
    try {
      // Twenty followers asking for every line, reading nothing (not even the answer).
      for (let i = 0; i < 20; i++) {
        const client = net.connect(control.path);
        client.on('error', () => {});
        client.write('{"v":1,"id":1,"cmd":"follow","service":"web","lines":100000}\n');
        client.pause();
        clients.push(client);
      }
      expect(await waitFor(() => read === 20, 20_000)).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
      // Before, all twenty tails (about 9 MB) stayed in msup's memory for as long as they stayed.
      expect(control.heldTailsBytes).toBeGreaterThan(0);
      expect(control.heldTailsBytes).toBeLessThanOrEqual(bound);
      // A new follower gets its tail, then the live lines, as before.
      const fresh = await follow(control.path, '{"v":1,"id":2,"cmd":"follow","service":"web","lines":3}');
      clients.push(fresh);
      const freshGot = numbers(fresh);
      expect(await waitFor(() => freshGot.records.length >= 8)).toBe(true);
      const first = freshGot.records[0] as number;
      expect(freshGot.records.slice(0, 8)).toEqual(Array.from({ length: 8 }, (_, i) => first + i));
      // The first follower, dropped for the later ones, reads at last: the part of its tail that was
      // already on its way, then how many lines it missed, then the live lines. Every line once,
      // received or counted.
      const now = logged;
      const oldest = clients[0] as net.Socket;
      const got = numbers(oldest);
      oldest.resume();
      expect(await waitFor(() => (got.records.at(-1) ?? 0) > now)).toBe(true);
      expect(got.skipped.length).toBeGreaterThan(0);
      // Told why: its tail made room for the others' (before, the same `skipped` as a slow terminal's).
      expect(got.notices[0]).toMatchObject({ kind: 'skipped', reason: 'evicted' });
      let expected = 0;
      for (const item of got.stream) {
        if (typeof item === 'number') expect(item).toBe(expected++);
        else expected += item.skipped;
      }
    } finally {
      clearInterval(ticker);
      for (const client of clients) client.destroy();
      await control.close();
      await files.close();
    }
  });

  it('whose tail alone is past the bound get its newest lines, after a skipped record that says so', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const files = new LogFiles(path.join(root, 'logs'), { batchMs: 0 });
    const target = new EventEmitter();
    const pad = 'x'.repeat(100);
    let logged = 0;
    const log = () => {
      const line: OutputLine = {
        service: 'web',
        index: 0,
        stream: 'stdout',
        line: `line ${logged++} ${pad}`,
      };
      files.write(line);
      target.emit('output', line);
    };
    for (let i = 0; i < 2000; i++) log(); // about 450 KB as sent
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget, files),
      () => {},
      { heldTailsBytes: 256 * 1024 },
    );
    const ticker = setInterval(log, 5);
    try {
      const client = await follow(
        control.path,
        '{"v":1,"id":1,"cmd":"follow","service":"web","lines":100000}',
      );
      const got = numbers(client);
      const now = logged;
      expect(await waitFor(() => (got.records.at(-1) ?? 0) > now)).toBe(true);
      client.destroy();
      // Before, `skipped` alone, as if this follower had read too slowly.
      expect(got.notices).toEqual([{ kind: 'skipped', lines: got.skipped[0], reason: 'too-large' }]);
      expect(got.stream[0]).toEqual({ skipped: got.skipped[0] });
      let expected = 0;
      for (const item of got.stream) {
        if (typeof item === 'number') expect(item).toBe(expected++);
        else expected += item.skipped;
      }
    } finally {
      clearInterval(ticker);
      await control.close();
      await files.close();
    }
  });

  it('that read too slowly are told how many live lines they missed, and why', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const target = new EventEmitter();
    const pad = 'x'.repeat(200);
    let logged = 0;
    const log = () =>
      target.emit('output', { service: 'web', index: 0, stream: 'stdout', line: `line ${logged++} ${pad}` });
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget),
    );
    try {
      const client = await follow(control.path, '{"v":1,"id":1,"cmd":"follow","service":"web"}');
      client.pause();
      // About 5 MB at once: far past the 1 MB msup keeps waiting for a follower.
      for (let i = 0; i < 20_000; i++) log();
      const got = numbers(client);
      client.resume();
      // Once it has read what waited, the next line comes after the notice.
      const ticker = setInterval(log, 5);
      try {
        expect(await waitFor(() => got.skipped.length > 0 && typeof got.stream.at(-1) === 'number')).toBe(
          true,
        );
      } finally {
        clearInterval(ticker);
      }
      client.destroy();
      // Before, no reason. (More than one notice when the ticks meet the bound again while it catches up.)
      expect(got.notices).toEqual(got.skipped.map((lines) => ({ kind: 'skipped', lines, reason: 'slow' })));
      let expected = 0;
      for (const item of got.stream) {
        if (typeof item === 'number') expect(item).toBe(expected++);
        else expected += item.skipped;
      }
    } finally {
      await control.close();
    }
  });
});

describe('control socket followers after a burst', () => {
  it('that read too slowly are told of the lines they missed once they have read the rest, with no line after', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    roots.push(root);
    const target = new EventEmitter();
    const pad = 'x'.repeat(200);
    const control = await ControlServer.open(
      root,
      controlHandler(Object.assign(target, { instances: () => [] }) as unknown as ControlTarget),
    );
    try {
      const client = await follow(control.path, '{"v":1,"id":1,"cmd":"follow","service":"web"}');
      client.pause();
      // About 5 MB at once, then nothing more: a crash's burst, a service gone quiet.
      for (let i = 0; i < 20_000; i++)
        target.emit('output', { service: 'web', index: 0, stream: 'stdout', line: `line ${i} ${pad}` });
      const got = numbers(client);
      client.resume();
      // Before, the notice waited for the service's next line: the follower took the lines it got for all.
      expect(await waitFor(() => got.skipped.length > 0)).toBe(true);
      const kept = got.records.length;
      expect(kept).toBeGreaterThan(0);
      expect(got.stream).toEqual([...got.records.map((_, i) => i), { skipped: 20_000 - kept }]);
      expect(got.notices).toEqual([{ kind: 'skipped', lines: 20_000 - kept, reason: 'slow' }]);
      client.destroy();
    } finally {
      await control.close();
    }
  });
});

/** What a follower receives: line numbers, and the skipped notices among them. */
function numbers(socket: net.Socket) {
  const got = {
    records: [] as number[],
    skipped: [] as number[],
    /** The skipped records whole. */
    notices: [] as unknown[],
    stream: [] as (number | { skipped: number })[],
  };
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (data: string) => {
    text += data;
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      const message = JSON.parse(line) as { record?: { kind: string; line?: string; lines?: number } };
      const record = message.record;
      if (!record) continue;
      if (record.kind === 'skipped') {
        got.skipped.push(record.lines as number);
        got.notices.push(record);
        got.stream.push({ skipped: record.lines as number });
      } else {
        const n = Number(/line (\d+)/.exec(record.line as string)?.[1]);
        got.records.push(n);
        got.stream.push(n);
      }
    }
  });
  return got;
}
