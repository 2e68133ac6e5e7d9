// The engine API's multiplexed output (8-byte frame headers), split however the socket delivers it.
import { describe, expect, it } from 'vitest';
import { apiMessage, FrameReader } from '../../src/runtime/container/engine-api.js';

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
