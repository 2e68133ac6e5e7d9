// The engine API's multiplexed output (8-byte frame headers), split however the socket delivers it.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ApiUnreachable,
  apiMessage,
  EngineApi,
  FrameReader,
} from '../../src/runtime/container/engine-api.js';

const frame = (stream: 1 | 2, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe('FrameReader', () => {
  it('passes each frame on with its stream, across any chunk boundaries', () => {
    const bytes = Buffer.concat([
      frame(1, 'out one\n'),
      frame(2, 'err one\n'),
      frame(1, ''),
      frame(1, 'out two'),
    ]);
    for (const size of [1, 3, 8, 9, bytes.length]) {
      const got: string[] = [];
      const reader = new FrameReader((stream, chunk) => got.push(`${stream}:${chunk.toString()}`));
      for (let at = 0; at < bytes.length; at += size) reader.push(bytes.subarray(at, at + size));
      expect(got.join('')).toBe('stdout:out one\nstderr:err one\nstdout:out two');
    }
  });
});

describe('apiMessage', () => {
  it("gives the engine's message, else the status and body", () => {
    expect(
      apiMessage({ status: 404, body: '{"cause":"no such container","message":"no container x"}' }),
    ).toBe('no container x');
    expect(apiMessage({ status: 500, body: 'plain' })).toBe('HTTP 500: plain');
  });
});

describe("the engine API's streams, against a socket that misbehaves", () => {
  it('rejects an error answer cut in its body, instead of waiting for it for ever', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-api-'));
    const socket = path.join(dir, 'api.sock');
    // Answers 500 with 100 bytes announced, sends 7, and closes the connection.
    const server = net.createServer((client) => {
      client.once('data', () => {
        client.write('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 100\r\n\r\npartial');
        setImmediate(() => client.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const api = new EngineApi(socket);
    try {
      await expect(api.logs('c', 0, () => {})).rejects.toBeInstanceOf(ApiUnreachable);
    } finally {
      api.close();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
