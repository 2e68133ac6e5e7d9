// The lean client's response parser: framing by Content-Length, chunked and close, in pieces of any
// size, and every ambiguous or malformed response refused (the adversarial cases of issue 14).
import { describe, expect, it } from 'vitest';
import { InvalidResponse, ResponseParser } from '../../src/proxy/response-parser.js';

interface Parsed {
  status?: number;
  reason?: string;
  raw?: string[];
  body: string;
  done: boolean;
  keepAlive: boolean;
}

/** Feeds `text` in pieces of `step` bytes; `close` ends the connection afterwards. */
function parse(text: string, options: { step?: number; head?: boolean; close?: boolean } = {}): Parsed {
  const out: Parsed = { body: '', done: false, keepAlive: false };
  const parser = new ResponseParser({
    head(status, reason, raw) {
      Object.assign(out, { status, reason, raw });
      return true;
    },
    body(chunk) {
      out.body += chunk.toString('latin1');
      return true;
    },
  });
  parser.expect(options.head ?? false);
  const bytes = Buffer.from(text, 'latin1');
  const step = options.step ?? bytes.length;
  for (let at = 0; at < bytes.length; at += step) parser.execute(bytes.subarray(at, at + step));
  if (options.close) parser.finish();
  out.done = parser.done;
  out.keepAlive = parser.keepAlive;
  return out;
}

const refused = (text: string, options?: { step?: number; close?: boolean }) =>
  expect(() => parse(text, options)).toThrow(InvalidResponse);

describe('response parser', () => {
  it('frames by Content-Length, whatever the pieces', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b \r\n\r\nhello';
    for (const step of [1, 2, 7, 1000]) {
      expect(parse(text, { step })).toEqual({
        status: 200,
        reason: 'OK',
        raw: ['Content-Length', '5', 'X-A', 'b'],
        body: 'hello',
        done: true,
        keepAlive: true,
      });
    }
  });

  it('removes chunked framing (extensions and trailers too), whatever the pieces', () => {
    const text =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n';
    for (const step of [1, 3, 1000]) {
      const r = parse(text, { step });
      expect(r).toMatchObject({ body: 'hello world', done: true, keepAlive: true });
    }
  });

  it('reads until close without a length, and never reuses such a connection', () => {
    const r = parse('HTTP/1.1 200 OK\r\n\r\nall of it', { close: true });
    expect(r).toMatchObject({ body: 'all of it', done: true, keepAlive: false });
    expect(parse('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx').keepAlive).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx').keepAlive).toBe(false);
  });

  it('has no body for HEAD, 204 and 304, and skips 1xx before the final response', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true })).toMatchObject({
      done: true,
      body: '',
    });
    expect(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n').done).toBe(true);
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n').done).toBe(true);
    expect(
      parse('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    ).toMatchObject({ status: 200, body: 'ok', done: true });
  });

  it('refuses Content-Length with Transfer-Encoding, and a repeated or invalid Content-Length', () => {
    refused('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc');
    refused('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd');
    refused('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc');
    refused('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc');
  });

  it('refuses a transfer coding other than exactly chunked, and takes Chunked in any case', () => {
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok', { close: true });
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\nok', { close: true });
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n')).toMatchObject(
      {
        body: 'ok',
        done: true,
      },
    );
  });

  it('refuses obs-fold, bare CR or LF, and malformed names or status lines', () => {
    refused('HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n');
    refused('HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n');
    refused('HTTP/2.0 200 OK\r\n\r\n');
    refused('HTTP/1.1 20 OK\r\n\r\n');
    refused('SSH-2.0-OpenSSH_9.2\r\n', { step: 4 });
  });

  it('refuses invalid chunk sizes and chunk data longer than its size', () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    refused(`${chunked}z\r\nhello\r\n0\r\n\r\n`);
    refused(`${chunked}-5\r\nhello\r\n0\r\n\r\n`);
    refused(`${chunked}0x5\r\nhello\r\n0\r\n\r\n`);
    refused(`${chunked}fffffffffffffffff\r\n`);
    refused(`${chunked}5\nhello\r\n0\r\n\r\n`);
    refused(`${chunked}3\r\nhello\r\n0\r\n\r\n`);
    refused(`${chunked}5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n`);
  });

  it('ends a response followed by more bytes there and closes its connection; refuses one cut short', () => {
    expect(
      parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    ).toMatchObject({ body: 'ok', done: true, keepAlive: false });
    refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel', { close: true });
    refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', { close: true });
    refused('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n');
  });

  it('refuses a response head past its limit', () => {
    refused(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    refused(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}`, { step: 1000 });
  });

  it('delivers nothing after an event returns false, and goes on from there at resume()', () => {
    // 500 one-byte chunks in one read: a paused handler gets one piece per resume, as undici's parser.
    const bytes = Array.from({ length: 500 }, (_, i) => String.fromCharCode(33 + (i % 90)));
    const text = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${bytes.map((b) => `1\r\n${b}\r\n`).join('')}0\r\n\r\n`;
    const events: string[] = [];
    const parser = new ResponseParser({
      head: () => {
        events.push('head');
        return false;
      },
      body: (chunk) => {
        events.push(chunk.toString('latin1'));
        return false;
      },
    });
    parser.expect(false);
    parser.execute(Buffer.from(text, 'latin1'));
    expect(events).toEqual(['head']);
    expect(parser.paused).toBe(true);
    parser.execute(Buffer.alloc(0)); // a read while paused delivers nothing either
    expect(events).toEqual(['head']);
    let resumes = 0;
    while (!parser.done && resumes <= 501) {
      const before = events.length;
      parser.resume();
      resumes++;
      expect(events.length - before).toBeLessThanOrEqual(1);
    }
    expect(resumes).toBe(501); // one per byte, and one more for the last chunk's framing
    expect(events.slice(1).join('')).toBe(bytes.join(''));
    expect(parser.keepAlive).toBe(true);
  });

  it('pauses in a Content-Length body and a body read until close alike, and keeps what follows', () => {
    const events: string[] = [];
    let answer = false;
    const parser = new ResponseParser({
      head: () => true,
      body: (chunk) => {
        events.push(chunk.toString('latin1'));
        return answer;
      },
    });
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc', 'latin1'));
    parser.execute(Buffer.from('def', 'latin1')); // arrived while paused: kept, not delivered
    expect(events).toEqual(['abc']);
    answer = true;
    parser.resume();
    expect({ events, done: parser.done, keepAlive: parser.keepAlive }).toEqual({
      events: ['abc', 'def'],
      done: true,
      keepAlive: true,
    });
    events.length = 0;
    answer = false;
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc', 'latin1'));
    parser.execute(Buffer.from('def', 'latin1'));
    parser.finish(); // the connection ended while paused: what was kept is the body's end
    expect({ events, done: parser.done }).toEqual({ events: ['abc', 'def'], done: true });
  });

  it("reads the instance's Keep-Alive timeout hint", () => {
    const hint = (header: string) => {
      const parser = new ResponseParser({ head: () => true, body: () => true });
      parser.expect(false);
      parser.execute(Buffer.from(`HTTP/1.1 200 OK\r\n${header}Content-Length: 0\r\n\r\n`, 'latin1'));
      return parser.keepAliveHintMs;
    };
    expect(hint('Keep-Alive: timeout=5\r\n')).toBe(5000);
    expect(hint('Keep-Alive: max=100, timeout=2\r\n')).toBe(2000);
    expect(hint('keep-alive: Timeout=7;max=3\r\n')).toBe(7000);
    expect(hint('Keep-Alive: max=100\r\n')).toBeUndefined();
    expect(hint('')).toBeUndefined();
  });
});
