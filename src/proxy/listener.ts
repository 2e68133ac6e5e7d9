// An HTTP listener that answers bad input itself (400, 431, 408) and binds with clear, coded errors;
// used by each service's front and by the shared front.
import http from 'node:http';
import type net from 'node:net';
import { MsupError } from '../errors.js';

export interface ListenerOptions {
  /** Time a client has to send the complete request headers (answered with 408). */
  headersTimeoutMs: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;

function statusFor(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

export function createListener(
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  onUpgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void,
  options: ListenerOptions,
): http.Server {
  const headersTimeout = options.headersTimeoutMs;
  const server = http.createServer(
    {
      headersTimeout,
      // Off: a large upload or a long stream is not cut; slow headers still are (headersTimeout).
      requestTimeout: 0,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    onRequest,
  );
  server.on('upgrade', (req, socket, head) => onUpgrade(req, socket as net.Socket, head));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    socket.end(`HTTP/1.1 ${statusFor(error.code)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return server;
}

/** Binds a listener; 0 picks a free port. Resolves with the bound port. */
export function bind(
  server: net.Server,
  port: number,
  host: string,
  what: string,
  service?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenError(error, port, what, service));
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** The coded error for a port that could not be bound: MSUP_PORT_IN_USE names the port and `what`. */
export function listenError(
  error: NodeJS.ErrnoException,
  port: number,
  what: string,
  service?: string,
): MsupError {
  const inUse = error.code === 'EADDRINUSE';
  const message = inUse
    ? `port ${port} for ${what} is already in use`
    : `cannot listen on port ${port} for ${what}: ${error.message}`;
  return new MsupError(inUse ? 'MSUP_PORT_IN_USE' : 'MSUP_START_FAILED', message, {
    cause: error,
    port,
    ...(service === undefined ? {} : { service }),
  });
}
