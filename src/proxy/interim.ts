// Interim (1xx) responses an instance sends unasked before its final answer to a request with a body,
// taken out of what undici reads. undici refuses a `100 Continue` it did not ask for (it never sends
// `Expect`): the request failed with 502, where RFC 9110 §15.2 has a client parse and may ignore
// unexpected 1xx, and nginx and msup's own client (response-parser.ts) skip them. 101 is left in: it
// answers an upgrade no one asked for, refused as before. Pure, apart from the socket it is put on.
import type { Duplex } from 'node:stream';
import { MAX_RESPONSE_HEAD } from './response-parser.js';

const STATUS_PREFIX = 'HTTP/1.x 1dd ';
/** What the status line of an interim response may start with, byte by byte (`x`: 0 or 1, `d`: a digit). */
function fitsPrefix(bytes: Buffer, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const c = bytes[i] as number;
    const want = STATUS_PREFIX.charCodeAt(i);
    if (i === 7 ? c !== 0x30 && c !== 0x31 : want === 0x64 ? c < 0x30 || c > 0x39 : c !== want) {
      // The status code may end the line (no reason phrase, as llhttp takes it).
      if (i === 12 && c === 0x0d) continue;
      return false;
    }
  }
  return true;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Takes the bytes of one connection as they are read. After `expectResponse()` (a request went out), the
 * interim responses at the start of its response are dropped, until the first byte of another one.
 */
export class InterimFilter {
  #atStart = false;
  #held: Buffer | undefined;

  /** A request went out: its response starts with the next byte. */
  expectResponse(): void {
    this.#atStart = true;
  }

  /** The bytes to pass on for `chunk`, or null while they cannot be told apart yet. */
  take(chunk: Buffer): Buffer | null {
    if (!this.#atStart) return chunk;
    let bytes = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = undefined;
    while (bytes.length > 0) {
      const seen = Math.min(bytes.length, STATUS_PREFIX.length);
      if (
        !fitsPrefix(bytes, seen) ||
        (seen === STATUS_PREFIX.length && bytes.toString('latin1', 9, 12) === '101')
      ) {
        this.#atStart = false;
        return bytes;
      }
      const end = seen === STATUS_PREFIX.length ? bytes.indexOf(HEAD_END) : -1;
      if (end < 0) {
        // Past the limit a response head is undici's to refuse, as it would have been.
        if (bytes.length > MAX_RESPONSE_HEAD) {
          this.#atStart = false;
          return bytes;
        }
        this.#held = bytes;
        return null;
      }
      bytes = bytes.subarray(end + HEAD_END.length);
    }
    return null;
  }
}

/**
 * Puts a filter on what undici reads from `socket` (it reads with `socket.read()` on 'readable'); tell
 * it when a request goes out with the filter returned.
 */
export function skipInterim(socket: Duplex): InterimFilter {
  const filter = new InterimFilter();
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    if (size !== undefined) return read(size);
    for (;;) {
      const chunk = read() as Buffer | null;
      if (chunk === null) return null;
      const passed = filter.take(chunk);
      if (passed) return passed;
    }
  };
  return filter;
}
