// The control server forgets a `logs -f` follower once its connection closes: a long-running msup
// followed many times over keeps nothing of the followers that left.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ControlTarget, controlHandler } from '../../src/control/handler.js';
import { ControlServer } from '../../src/control/server.js';
import { LogFiles } from '../../src/log/files.js';
import type { OutputLine } from '../../src/types.js';
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
    const control = await ControlServer.open(root, {
      status: async () => {
        throw new Error('not asked');
      },
      restart: async () => null,
      scale: async () => null,
      stop: async () => {},
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
});
