// The engine API's multiplexed output (8-byte frame headers), split however the socket delivers it.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ApiUnreachable,
  apiMessage,
  chooseApiVersion,
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

describe('the API version asked for', () => {
  it('is 1.41, or the oldest the engine serves when that is newer (Docker 29: 1.44)', () => {
    expect(chooseApiVersion({ ApiVersion: '1.41', MinAPIVersion: '1.24' })).toBe('1.41');
    expect(chooseApiVersion({ ApiVersion: '1.52', MinAPIVersion: '1.44' })).toBe('1.44');
    expect(chooseApiVersion({ ApiVersion: '1.41' })).toBe('1.41');
    expect(chooseApiVersion({ MinAPIVersion: 'nonsense' })).toBe('1.41');
  });

  it("is what the engine's /version asks for, on every later request", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-api-'));
    const socket = path.join(dir, 'engine.sock');
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      if (req.url === '/version') res.end(JSON.stringify({ ApiVersion: '1.52', MinAPIVersion: '1.44' }));
      else if (req.url?.startsWith('/v1.44/')) res.end('[]');
      else res.writeHead(400).end('{"message":"client version 1.41 is too old"}');
    });
    await new Promise<void>((r) => server.listen(socket, r));
    const api = new EngineApi(socket);
    try {
      await api.negotiate();
      expect(api.version).toBe('1.44');
      expect(await api.call('GET', '/containers/json')).toEqual([]);
      expect(paths).toEqual(['/version', '/v1.44/containers/json']);
    } finally {
      api.close();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
