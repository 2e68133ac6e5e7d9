// The control client when the running msup goes away in the middle of a request (it ended with the request
// unread, as a background msup that fails its start does): a coded MSUP_CONTROL, never a raw socket error
// (which `msup start --detach` reported as "unexpected error: read ECONNRESET").
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { controlFollow, controlRequest } from '../../src/control/client.js';
import { isMsupError } from '../../src/errors.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('answers MSUP_CONTROL when msup closes the connection with the request unread', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msup-control-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, '.msup'), { mode: 0o700 });
  // A server that never reads (pauseOnConnect) and closes each connection at once: the client's request is
  // left unread, so its next read fails with ECONNRESET (or its write with EPIPE, if the close came first).
  const server = net.createServer({ pauseOnConnect: true }, (socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(path.join(root, '.msup', 'control.sock'), resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const causes = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const error = await controlRequest(root, { cmd: 'status' }).catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_CONTROL')).toBe(true);
    const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
    causes.add(cause?.code ?? 'closed without an answer');
  }
  // At least one attempt went through a socket error, the case this test is for.
  expect([...causes].some((c) => c === 'ECONNRESET' || c === 'EPIPE')).toBe(true);
});

/** A control socket in a new project folder, served by `onLine` (which may answer or not). */
async function fakeMsup(onLine: (socket: net.Socket, request: { id: number; cmd: string }) => void) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msup-control-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, '.msup'), { mode: 0o700 });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n')) {
        onLine(socket, JSON.parse(text.slice(0, i)) as { id: number; cmd: string });
        text = text.slice(i + 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(root, '.msup', 'control.sock'), resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return root;
}

const answer = (socket: net.Socket, id: number, result: unknown) =>
  socket.write(`${JSON.stringify({ v: 1, id, ok: true, result })}\n`);

describe('an msup that does not answer (stopped by kill -STOP)', () => {
  it('fails `status` with MSUP_CONTROL instead of waiting forever', async () => {
    const root = await fakeMsup(() => {}); // reads every request, answers none
    await expect(controlRequest(root, { cmd: 'status' }, { answerMs: 200 })).rejects.toMatchObject({
      code: 'MSUP_CONTROL',
      message: expect.stringContaining('msup did not answer within 200ms'),
    });
  });

  it('fails a long command once msup no longer answers a ping either', async () => {
    const root = await fakeMsup(() => {});
    await expect(controlRequest(root, { cmd: 'restart' }, { answerMs: 200 })).rejects.toMatchObject({
      code: 'MSUP_CONTROL',
      message: expect.stringContaining('msup did not answer within 200ms'),
    });
  });

  it('fails `logs -f` when msup does not answer the follow', async () => {
    const root = await fakeMsup(() => {});
    await expect(controlFollow(root, { answerMs: 200 }, () => {})).rejects.toMatchObject({
      code: 'MSUP_CONTROL',
      message: expect.stringContaining('msup did not answer within 200ms'),
    });
  });

  it('keeps waiting for a long command, or a slow status, while msup answers a ping', async () => {
    // A restart, or a status that waits for a container's pid, taking several times the wait, in an msup
    // that stays alive meanwhile. (A slow status made the status itself the liveness check: it failed too.)
    for (const cmd of ['restart', 'status'] as const) {
      let probes = 0;
      let slow: { socket: net.Socket; id: number } | undefined;
      const root = await fakeMsup((socket, request) => {
        if (request.cmd === cmd) slow = { socket, id: request.id };
        else if (request.cmd === 'ping') {
          probes++;
          answer(socket, request.id, null);
          if (probes === 3 && slow) answer(slow.socket, slow.id, [{ service: 'web' }]);
        }
      });
      await expect(controlRequest(root, { cmd }, { answerMs: 100 })).resolves.toEqual([{ service: 'web' }]);
      expect(probes).toBe(3);
    }
  });

  it('takes an error answer to its ping (an older msup without ping) as a sign of life', async () => {
    let probes = 0;
    let restart: { socket: net.Socket; id: number } | undefined;
    const root = await fakeMsup((socket, request) => {
      if (request.cmd === 'restart') restart = { socket, id: request.id };
      else {
        probes++;
        socket.write(
          `${JSON.stringify({ v: 1, id: request.id, ok: false, error: { code: 'MSUP_CONTROL', message: 'unknown command "ping"' } })}\n`,
        );
        if (probes === 2 && restart) answer(restart.socket, restart.id, 'done');
      }
    });
    await expect(controlRequest(root, { cmd: 'restart' }, { answerMs: 100 })).resolves.toBe('done');
  });
});

it('reads an answer over 1 MB (the status of thousands of instances)', async () => {
  const services = Array.from({ length: 3000 }, (_, i) => ({ name: `s${i}`, note: 'x'.repeat(1000) }));
  const root = await fakeMsup((socket, request) => answer(socket, request.id, { version: 1, services }));
  const status = await controlRequest<{ services: unknown[] }>(root, { cmd: 'status' });
  expect(status.services).toHaveLength(3000);
});
