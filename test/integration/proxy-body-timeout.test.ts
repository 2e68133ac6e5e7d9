// A request body that stops arriving is cut after bodyTimeout with 408 (nginx's client_body_timeout);
// a slow but steady body, or one the instance is slow to read, is not.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, proxy } = useUpstreams();

/** Sends the request head, then `parts` of the body with `gapMs` between them; resolves with the answer. */
function trickle(port: number, length: number, parts: string[], gapMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', async () => {
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`,
      );
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        await sleep(gapMs);
      }
    });
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('request body timeout', () => {
  it('answers 408 and closes when the body stops arriving; the instance sees the request cut', async () => {
    let aborted = 0;
    const upstream = await httpUpstream((req, res) => {
      req.on('aborted', () => aborted++);
      req.on('close', () => {
        if (!req.complete) aborted++;
      });
      req.resume();
      req.on('end', () => res.end('got it'));
    });
    const { port } = await proxy([upstream], { bodyTimeoutMs: 1000 });
    const started = Date.now();
    const answer = await trickle(port, 100, ['a'], 0);
    expect(answer).toMatch(/^HTTP\/1\.1 408 [\s\S]*connection: close/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await expect.poll(() => aborted).toBeGreaterThan(0);
  });

  it('lets a slow but steady body through, and does not count the time the instance is slow to read', async () => {
    const upstream = await httpUpstream((req, res) => {
      // Reads nothing for 2 s (well past bodyTimeout), then everything.
      req.pause();
      setTimeout(() => {
        let bytes = 0;
        req.on('data', (c: Buffer) => (bytes += c.length));
        req.on('end', () => res.end(`bytes=${bytes}`));
        req.resume();
      }, 2000);
    });
    const { port } = await proxy([upstream], { bodyTimeoutMs: 1000 });
    const steady = await trickle(port, 10, Array(10).fill('x'), 100);
    expect(steady).toMatch(/^HTTP\/1\.1 200 [\s\S]*bytes=10/);
    const big = 'y'.repeat(16 * 1024 * 1024);
    const heavy = await trickle(port, big.length, [big], 0);
    expect(heavy).toMatch(/^HTTP\/1\.1 200 [\s\S]*bytes=16777216/);
  });
});
