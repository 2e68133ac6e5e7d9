// A strict, incremental HTTP/1.1 response parser for msup's own upstream client: it frames the
// instance's response (Content-Length, chunked, or until close) and refuses anything ambiguous, so a
// pooled connection never carries a leftover byte into the next client's response. Pure.
import { responseCodingProblem } from './headers.js';

/** A response msup will not pass on, or whose framing it cannot trust (answered 502, connection closed). */
export class InvalidResponse extends Error {
  readonly code = 'MSUP_INVALID_RESPONSE';
}

export interface ResponseEvents {
  /**
   * The final (non-1xx) response head; `raw` is `[name, value, ...]` as sent (latin1). `false` pauses
   * the parser (see `resume`).
   */
  head(status: number, reason: string, raw: string[]): boolean;
  /** A piece of the body (chunked framing removed). `false` pauses the parser (see `resume`). */
  body(chunk: Buffer): boolean;
}

/** As Node's and undici's default: a response head past this is refused. */
export const MAX_RESPONSE_HEAD = 16 * 1024;
const MAX_CHUNK_LINE = 1024;

enum State {
  Head = 0,
  Length = 1,
  ChunkSize = 2,
  ChunkData = 3,
  ChunkEnd = 4,
  Trailers = 5,
  UntilClose = 6,
  Done = 7,
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what these refuse
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\0-\x08\x0a-\x1f\x7f]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what these refuse
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what these refuse
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CRLF = Buffer.from('\r\n');
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout=(\d{1,9})/i;
const HTTP_PREFIX = Buffer.from('HTTP/1.');
const EMPTY = Buffer.alloc(0);

function fail(message: string): never {
  throw new InvalidResponse(`invalid response from the instance: ${message}`);
}

/** `[name, value, ...]` of a head's header lines; throws on obs-fold, bare CR/LF, bad names or values. */
function headerLines(lines: string[], from: number): string[] {
  const raw: string[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) fail(line[0] === ' ' || line[0] === '\t' ? 'obsolete line folding' : 'malformed header');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) fail(`invalid header name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) fail(`invalid characters in header ${name}`);
    raw.push(name, value);
  }
  return raw;
}

/**
 * One response at a time: `expect(noBody)` before each request, `execute(chunk)` with each chunk read,
 * `finish()` when the connection ends. Throws InvalidResponse; once `done`, `keepAlive` says whether the
 * connection may carry the next request, and `keepAliveHintMs` what the instance's `Keep-Alive:
 * timeout=N` allows. An event that returns false pauses it: nothing more is delivered (what it has not
 * parsed yet is kept) until `resume()`, as undici's parser stops at a handler's false.
 */
export class ResponseParser {
  #events: ResponseEvents;
  #state = State.Done;
  #noBody = false;
  #pending: Buffer | undefined;
  #remaining = 0;
  #paused = false;
  keepAlive = false;
  /** The instance's `Keep-Alive: timeout=N` of the last response, in ms (undefined: none given). */
  keepAliveHintMs: number | undefined;

  constructor(events: ResponseEvents) {
    this.#events = events;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Whether the response so far ends only when the connection does. */
  get untilClose(): boolean {
    return this.#state === State.UntilClose;
  }

  /** Whether an event returned false and `resume()` has not been called since. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The next response answers a request with no response body (HEAD). */
  expect(noBody: boolean): void {
    this.#state = State.Head;
    this.#noBody = noBody;
    this.#pending = undefined;
    this.#paused = false;
    this.keepAlive = false;
    this.keepAliveHintMs = undefined;
  }

  /** Goes on from where an event paused it, with the bytes it kept; it may pause again. */
  resume(): void {
    this.#paused = false;
    if (this.#pending) this.execute(EMPTY);
  }

  execute(input: Buffer): void {
    let data = input;
    if (this.#pending) data = input.length === 0 ? this.#pending : Buffer.concat([this.#pending, input]);
    this.#pending = undefined;
    if (this.#paused) {
      // Read while paused (the connection pauses its socket, so only what was already on its way).
      if (data.length > 0) this.#pending = data;
      return;
    }
    let at = 0;
    while (at < data.length) {
      switch (this.#state) {
        case State.Head: {
          // Not HTTP at all (another protocol on the port): refused at once, as llhttp does.
          const seen = Math.min(data.length - at, HTTP_PREFIX.length);
          if (data.compare(HTTP_PREFIX, 0, seen, at, at + seen) !== 0) fail('not an HTTP/1.x response');
          const end = data.indexOf('\r\n\r\n', at, 'latin1');
          if (end < 0) {
            this.#keep(data, at, MAX_RESPONSE_HEAD, 'response head too large');
            return;
          }
          if (end - at > MAX_RESPONSE_HEAD) fail('response head too large');
          this.#head(data.toString('latin1', at, end));
          at = end + 4;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, data.length - at);
          if (!this.#events.body(data.subarray(at, at + n))) this.#paused = true;
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.Done;
          break;
        }
        case State.ChunkSize: {
          const end = data.indexOf(CRLF, at);
          if (end < 0) {
            this.#keep(data, at, MAX_CHUNK_LINE, 'chunk size line too long');
            return;
          }
          const line = data.toString('latin1', at, end);
          const match = CHUNK_LINE.exec(line);
          if (!match) fail(`invalid chunk size ${JSON.stringify(line.slice(0, 40))}`);
          this.#remaining = Number.parseInt(match[1] as string, 16);
          this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
          at = end + 2;
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, data.length - at);
          if (!this.#events.body(data.subarray(at, at + n))) this.#paused = true;
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkEnd: {
          if (data.length - at < 2) {
            this.#keep(data, at, 2, '');
            return;
          }
          if (data[at] !== 13 || data[at + 1] !== 10) fail('chunk data longer than its size');
          at += 2;
          this.#state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const end = data.indexOf(CRLF, at);
          if (end < 0) {
            this.#keep(data, at, MAX_RESPONSE_HEAD, 'trailers too large');
            return;
          }
          if (end === at) this.#state = State.Done;
          else headerLines([data.toString('latin1', at, end)], 0); // validated, not passed on (as before)
          at = end + 2;
          break;
        }
        case State.UntilClose:
          if (!this.#events.body(at === 0 ? data : data.subarray(at))) this.#paused = true;
          return;
        case State.Done:
          break;
      }
      if (this.#state === State.Done && at < data.length) {
        // Nothing may follow a response on a connection that carries one request at a time: the
        // response is complete, the rest is dropped with the connection.
        this.keepAlive = false;
        return;
      }
      if (this.#paused) {
        if (at < data.length) this.#pending = data.subarray(at);
        return;
      }
    }
  }

  /** The connection ended: complete if the response is framed by its close. Throws otherwise. */
  finish(): void {
    if (this.#state === State.UntilClose) {
      // Bytes kept at a pause are the body's end: passed on now, the connection is gone.
      const rest = this.#pending;
      this.#pending = undefined;
      if (rest) this.#events.body(rest);
      this.#state = State.Done;
      return;
    }
    if (this.#state !== State.Done) fail('connection closed before the end of the response');
  }

  #keep(data: Buffer, at: number, limit: number, tooLong: string): void {
    if (data.length - at > limit && tooLong) fail(tooLong);
    this.#pending = data.subarray(at);
  }

  #head(text: string): void {
    const lines = text.split('\r\n');
    for (const line of lines) if (line.includes('\r') || line.includes('\n')) fail('bare CR or LF');
    const status = STATUS_LINE.exec(lines[0] as string);
    if (!status) fail(`invalid status line ${JSON.stringify((lines[0] as string).slice(0, 40))}`);
    const code = Number(status[2]);
    const raw = headerLines(lines, 1);
    if (code < 200) {
      // 101 answers an upgrade msup never asked for on this path; 100, 103, ... are skipped.
      if (code === 101) fail('101 Switching Protocols to a request without Upgrade');
      return; // still State.Head: the final response follows
    }
    let length: number | undefined;
    let codings = false;
    let keepAlive = status[1] === '1';
    let hintMs: number | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      if (name === 'content-length') {
        if (length !== undefined || !/^\d{1,15}$/.test(value)) fail('invalid or repeated Content-Length');
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        codings = true;
      } else if (name === 'keep-alive') {
        const timeout = KEEP_ALIVE_TIMEOUT.exec(value);
        if (timeout) hintMs = Number(timeout[1]) * 1000;
      } else if (name === 'connection') {
        for (const token of value.toLowerCase().split(',')) if (token.trim() === 'close') keepAlive = false;
      }
    }
    if (codings && length !== undefined) fail('both Transfer-Encoding and Content-Length');
    if (codings) {
      // Exactly chunked: anything else is refused, not framed (see responseCodingProblem).
      const problem = responseCodingProblem(raw);
      if (problem) fail(problem);
    }
    this.keepAlive = keepAlive;
    this.keepAliveHintMs = hintMs;
    if (!this.#events.head(code, status[3] ?? '', raw)) this.#paused = true;
    if (this.#noBody || code === 204 || code === 304) this.#state = State.Done;
    else if (codings) this.#state = State.ChunkSize;
    else if (length === undefined) {
      this.#state = State.UntilClose;
      this.keepAlive = false;
    } else {
      this.#remaining = length;
      this.#state = length === 0 ? State.Done : State.Length;
    }
  }
}
