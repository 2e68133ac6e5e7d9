// msup's handler server (dist/runtime/function/serve.js), as the process and container runtimes run a
// handler service: a real process on a port, serving fixtures/fns/behave.js.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { functionScript } from '../../src/handler-command.js';
import { endlessUpload, expectNoBodies } from '../helpers/function.js';
import { freePort, request } from '../helpers/http.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { REPO } from '../helpers/project.js';

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe("msup's handler server", () => {
  const started: { child: ChildProcess; tag: string }[] = [];
  afterEach(async () => {
    for (const { child, tag } of started.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await expectNoTaggedProcesses(tag);
    }
  });

  async function serve(): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
    const port = await freePort();
    const tag = randomUUID();
    const child = spawn(process.execPath, [functionScript('serve'), 'fns/behave.handler'], {
      cwd: path.join(REPO, 'fixtures'),
      env: { ...process.env, PORT: String(port), MSUP_TEST_TAG: tag },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    started.push({ child, tag });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    expect(await waitFor(() => accepts(port))).toBe(true);
    return { url: `http://127.0.0.1:${port}`, child, stderr: () => stderr };
  }

  it('answers 502 with the error type for a result JSON cannot write, and keeps serving', async () => {
    const s = await serve();
    for (const p of ['/circular', '/bigint']) {
      const reply = await request(`${s.url}${p}`);
      expect(reply.status).toBe(502);
      expect(reply.headers['x-amzn-errortype']).toBe('TypeError');
      expect(JSON.parse(reply.body)).toEqual({ message: 'Internal Server Error' });
    }
    expect(s.stderr()).toContain('Invoke Error');
    expect(s.child.exitCode).toBeNull();
    expect((await request(`${s.url}/globals`)).status).toBe(200);
  });

  it("names a thrown error's type, as the gateway does", async () => {
    const s = await serve();
    const reply = await request(`${s.url}/throw`);
    expect(reply.status).toBe(502);
    expect(reply.headers['x-amzn-errortype']).toBe('TypeError');
  });

  it('answers 413 when the event is over 6 MB, as a binary body of 4.8 MB is in base64', async () => {
    const s = await serve();
    const reply = await request(`${s.url}/binary`, {
      method: 'POST',
      body: 'x'.repeat(4_800_000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(reply.status).toBe(413);
    // Text stays text: the same body as text/plain is an event under 6 MB.
    const text = await request(`${s.url}/binary`, {
      method: 'POST',
      body: 'x'.repeat(4_800_000),
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(200);
    // Control bytes are text too, six characters each as JSON (\u0001): 1.5 MB of them is a 9 MB event
    // (it passed: only bodies over 3 MB were measured).
    const escaped = await request(`${s.url}/binary`, {
      method: 'POST',
      body: '\u0001'.repeat(1_500_000),
      headers: { 'content-type': 'text/plain' },
    });
    expect(escaped.status).toBe(413);
  });

  it('sends no body (nor Content-Length) for a 204, and no body for a HEAD request', async () => {
    const s = await serve();
    await expectNoBodies(s.url);
  });

  it('answers 413 to a body over 6 MB, as the gateway does', async () => {
    const s = await serve();
    const reply = await request(`${s.url}/echo`, {
      method: 'POST',
      body: 'x'.repeat(6 * 1024 * 1024 + 1),
      headers: { 'content-type': 'text/plain' },
    });
    expect(reply.status).toBe(413);
    expect((await request(`${s.url}/globals`)).status).toBe(200);
  });

  it('answers 413 to a body that never ends once it passes 6 MB, while the client is still sending', async () => {
    const s = await serve();
    // Before, the body was read to its end first: one that never ended was read for ever, unanswered.
    const upload = await endlessUpload(s.url, '/echo');
    expect(upload.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(upload.answer.endsWith('\r\n\r\n{"message":"Request Entity Too Large"}')).toBe(true);
    expect(upload.endedFirst).toBe(false);
    expect(upload.after).toMatch(/^HTTP\/1\.1 200 /);
  });
});
