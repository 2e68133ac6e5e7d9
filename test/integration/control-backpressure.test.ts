// The control server answers one request at a time per connection, and no faster than the client reads:
// a client that sends many requests and reads none (or slowly) no longer makes msup start them all at once,
// hold every answer in memory, and keep everyone else waiting (an 18 MB flood took msup from 61 to 204 MB
// and a concurrent `msup status` 28 s).
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/control/client.js';
import type { ControlHandler } from '../../src/control/server.js';
import { fakeControl } from '../helpers/control.js';
import { waitFor } from '../helpers/processes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: Partial<ControlHandler>) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const control = await fakeControl(root, handler);
  cleanups.push(() => control.close());
  return { root, control };
}

function connect(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

const flood = (n: number, cmd: string) =>
  Array.from({ length: n }, (_, i) => `{"v":1,"id":${i + 1},"cmd":"${cmd}"}\n`).join('');

describe('control socket requests on one connection', () => {
  it('are answered one at a time, in order', async () => {
    let inFlight = 0;
    let most = 0;
    const { control } = await serve({
      restart: async (service) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return service ?? null;
      },
    });
    const socket = await connect(control.path);
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => (text += chunk));
    socket.write(flood(50, 'restart'));
    expect(await waitFor(() => text.split('\n').length > 50)).toBe(true);
    const ids = text
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: number }).id);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(most).toBe(1);
  });

  it('wait for a client that does not read its answers, while other clients are answered', async () => {
    let restarts = 0;
    const big = 'x'.repeat(64 * 1024);
    const { root, control } = await serve({
      restart: async () => {
        restarts++;
        return big;
      },
      status: async () => ({ version: 1, restartsSoFar: restarts }) as never,
    });
    const reader = await connect(control.path);
    reader.pause(); // never reads
    reader.write(flood(500, 'restart'));
    expect(await waitFor(() => restarts > 0)).toBe(true);
    // Another client is answered; by then the first got only as many answers as its socket holds
    // (before, all 500 were started at once and their 32 MB of answers held in msup's memory).
    const status = await controlRequest<{ restartsSoFar: number }>(root, { cmd: 'status' });
    expect(status.restartsSoFar).toBeLessThan(100);
    reader.destroy();
  });
});
