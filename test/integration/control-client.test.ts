// The control client when the running msup goes away in the middle of a request (it ended with the request
// unread, as a background msup that fails its start does): a coded MSUP_CONTROL, never a raw socket error
// (which `msup start --detach` reported as "unexpected error: read ECONNRESET").
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { controlRequest } from '../../src/control/client.js';
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
