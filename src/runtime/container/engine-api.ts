// The engine's REST API (the Docker-compatible one, which podman's `system service` and docker's engine
// both serve) over a unix socket, with node:http: JSON requests, and a container's attached output as
// the API multiplexes it without a terminal (8-byte frame headers: stream, 0, 0, 0, length).
import http from 'node:http';
import type { Duplex } from 'node:stream';

/** The API version asked for unless the engine needs a newer one: podman 4 and docker 20.10 and later serve it. */
const BASE_VERSION = '1.41';
/** podman's own API (paths starting with /libpod), for what the compatible one does badly. */
const LIBPOD_VERSION = '/v4.0.0';
/** How long an attach may wait for the engine's answer before it runs. */
const STREAM_ANSWER_MS = 30_000;

const parts = (version: string) => version.split('.').map((n) => Number.parseInt(n, 10) || 0);
function newer(a: string, b: string): boolean {
  const [a1 = 0, a2 = 0] = parts(a);
  const [b1 = 0, b2 = 0] = parts(b);
  return a1 !== b1 ? a1 > b1 : a2 > b2;
}

/**
 * The API version to ask for, from the engine's `GET /version`: 1.41, or the oldest the engine still
 * serves when that is newer (Docker 29 refuses versions below 1.44). What msup asks for is the same in
 * every version from 1.41 on.
 */
export function chooseApiVersion(answer: { ApiVersion?: unknown; MinAPIVersion?: unknown }): string {
  const min = typeof answer.MinAPIVersion === 'string' ? answer.MinAPIVersion : undefined;
  return min && /^\d+\.\d+$/.test(min) && newer(min, BASE_VERSION) ? min : BASE_VERSION;
}

export interface ApiAnswer {
  status: number;
  body: string;
}

/** A request that failed at the socket (the service is gone, ...), not an HTTP error status. */
export class ApiUnreachable extends Error {}

/** A request the engine did not answer in time. */
export class ApiTimeout extends Error {}

/** An answer with an error status: the engine's message, and the status (404: no such container). */
export class ApiError extends Error {
  readonly status: number;
  constructor(answer: ApiAnswer) {
    super(apiMessage(answer));
    this.status = answer.status;
  }
}

/** Connection errors that say nothing listens at the socket's path (gone, or left by a dead service). */
const NO_SOCKET = new Set(['ENOENT', 'ECONNREFUSED']);

export class EngineApi {
  readonly socket: string;
  readonly #agent = new http.Agent({ keepAlive: true, maxFreeSockets: 4 });
  #version = `/v${BASE_VERSION}`;
  readonly #onNoSocket: () => void;

  /** `onNoSocket`: called when a request finds nothing listening at `socket` (ENOENT, ECONNREFUSED). */
  constructor(socket: string, onNoSocket: () => void = () => {}) {
    this.socket = socket;
    this.#onNoSocket = onNoSocket;
  }

  #failed(error: Error): Error {
    if (error instanceof ApiTimeout) return error;
    if (NO_SOCKET.has((error as NodeJS.ErrnoException).code ?? '')) this.#onNoSocket();
    return new ApiUnreachable(error.message);
  }

  /** The API version in use, as `1.41`. */
  get version(): string {
    return this.#version.slice(2);
  }

  /** Asks the engine which API versions it serves (`GET /version`, unversioned) and picks one. */
  async negotiate(timeoutMs = 5000): Promise<void> {
    const answer = await this.request('GET', '/version', undefined, timeoutMs, false);
    if (answer.status !== 200) return;
    try {
      this.#version = `/v${chooseApiVersion(JSON.parse(answer.body) as Record<string, unknown>)}`;
    } catch {
      // Not JSON: the version asked for stays 1.41.
    }
  }

  #versioned(path: string): string {
    return `${path.startsWith('/libpod/') ? LIBPOD_VERSION : this.#version}${path}`;
  }

  /** One request; the answer whatever its status; rejects with ApiUnreachable when the socket fails. */
  request(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
    versioned = true,
  ): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request(
        {
          socketPath: this.socket,
          agent: this.#agent,
          method,
          path: versioned ? this.#versioned(path) : path,
          headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (error) => reject(new ApiUnreachable(error.message)));
        },
      );
      // 0: no limit (a wait for the container's exit).
      if (timeoutMs > 0)
        req.setTimeout(timeoutMs, () => req.destroy(new ApiTimeout(`no answer within ${timeoutMs} ms`)));
      // A timeout is the engine being slow, not gone: not sent again through another service.
      req.on('error', (error) => reject(this.#failed(error)));
      req.end(data);
    });
  }

  /** A request that must succeed (2xx): its parsed JSON body (or null), else an ApiError with the engine's message. */
  async call(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    const answer = await this.request(method, path, body, timeoutMs);
    if (answer.status < 200 || answer.status >= 300) throw new ApiError(answer);
    return answer.body.trim() === '' ? null : JSON.parse(answer.body);
  }

  /**
   * Attaches to a container's stdout and stderr (before it starts, so nothing is missed): each frame's
   * bytes go to `onData`; resolves once attached, with `ended`, which settles when the stream ends
   * (an object: a promise resolved with a promise would wait for that one).
   */
  attach(
    name: string,
    onData: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ): Promise<{ ended: Promise<void> }> {
    return this.#stream(
      'POST',
      `/containers/${encodeURIComponent(name)}/attach?stream=1&stdout=1&stderr=1`,
      true,
      onData,
    );
  }

  /** Follows a container's log from `since` (seconds since the epoch), as `attach` does its output. */
  logs(
    name: string,
    since: number,
    onData: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ): Promise<{ ended: Promise<void> }> {
    return this.#stream(
      'GET',
      `/containers/${encodeURIComponent(name)}/logs?follow=1&stdout=1&stderr=1&since=${since.toFixed(3)}`,
      false,
      onData,
    );
  }

  #stream(
    method: string,
    path: string,
    upgrade: boolean,
    onData: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ): Promise<{ ended: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socket,
        method,
        path: this.#versioned(path),
        headers: upgrade ? { connection: 'Upgrade', upgrade: 'tcp' } : {},
      });
      const follow = (source: NodeJS.ReadableStream, head?: Buffer) => {
        const frames = new FrameReader(onData);
        if (head && head.length > 0) frames.push(head);
        return new Promise<void>((done) => {
          source.on('data', (chunk: Buffer) => frames.push(chunk));
          source.on('end', () => done());
          source.on('close', () => done());
          source.on('error', () => done());
        });
      };
      // An attach, until the engine answers (then it runs as long as the container does). Not a followed
      // log: podman 5.2's compatible API sends its head only with the first line, which may be much later.
      if (upgrade)
        req.setTimeout(STREAM_ANSWER_MS, () =>
          req.destroy(new ApiTimeout(`no answer within ${STREAM_ANSWER_MS} ms`)),
        );
      req.on('upgrade', (_res, socket: Duplex, head: Buffer) => {
        req.setTimeout(0);
        resolve({ ended: follow(socket, head) });
      });
      req.on('response', (res) => {
        req.setTimeout(0);
        if (res.statusCode === 200 && !upgrade) {
          resolve({ ended: follow(res) });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('error', (error) => reject(new ApiUnreachable(error.message)));
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          reject(
            new Error(
              apiMessage({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
            ),
          ),
        );
      });
      req.on('error', (error) => reject(this.#failed(error)));
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** What the engine said in an error answer (`{"message": ...}`), else the status and body. */
export function apiMessage(answer: ApiAnswer): string {
  try {
    const parsed = JSON.parse(answer.body) as { message?: unknown };
    if (typeof parsed.message === 'string' && parsed.message !== '') return parsed.message;
  } catch {}
  return `HTTP ${answer.status}${answer.body.trim() ? `: ${answer.body.trim().slice(0, 500)}` : ''}`;
}

/** Splits the API's multiplexed stream into frames: byte 0 is the stream (1 stdout, 2 stderr), 4-7 the length. */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);
  readonly #onData: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;

  constructor(onData: (stream: 'stdout' | 'stderr', chunk: Buffer) => void) {
    this.#onData = onData;
  }

  push(chunk: Buffer): void {
    let buffer = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buffer.length >= 8) {
      const length = buffer.readUInt32BE(4);
      if (buffer.length < 8 + length) break;
      const kind = buffer[0];
      if (length > 0) this.#onData(kind === 2 ? 'stderr' : 'stdout', buffer.subarray(8, 8 + length));
      buffer = buffer.subarray(8 + length);
    }
    this.#pending = buffer.length === 0 ? Buffer.alloc(0) : Buffer.from(buffer);
  }
}
