// The control server forgets a `logs -f` follower once its connection closes: a long-running msup
// followed many times over keeps nothing of the followers that left.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlServer } from '../../src/control/server.js';
import { waitFor } from '../helpers/processes.js';

const roots: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Follows on a new connection; resolves once the server answered, with the connection. */
function follow(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.setEncoding('utf8');
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
    socket.write('{"v":1,"id":1,"cmd":"follow"}\n');
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
});
