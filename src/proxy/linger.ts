// The rest of a request body that nothing wants any more (its answer went out first: an instance's early
// 413, msup's own 502 or 503 before the upload ended, a 404 from the shared front) is read and dropped, so
// a client still sending gets its answer and can use the connection again: closed at once, the socket
// with unread bytes made the kernel send a reset, which could take the answer with it. It is read for a
// bounded time only, as nginx's lingering close: before, a client sending slowly or endlessly held the
// connection, and msup's CPU reading it, for ever.
import type http from 'node:http';

/** nginx's lingering_time: a body is read and dropped for at most this long in all, then the connection closes. */
export const LINGER_TIME_MS = 30_000;
/**
 * nginx's lingering_timeout: the connection closes when the client sends nothing for this long meanwhile
 * (Node's keep-alive timer, armed once the answer is out, did so too, at 5 s and by chance).
 */
export const LINGER_TIMEOUT_MS = 5_000;

export interface LingerBounds {
  timeMs: number;
  timeoutMs: number;
}

export const DEFAULT_LINGER: LingerBounds = { timeMs: LINGER_TIME_MS, timeoutMs: LINGER_TIMEOUT_MS };

/** The bounds of the front that read each request (set by its listener). */
const boundsOf = new WeakMap<http.IncomingMessage, LingerBounds>();
const lingering = new WeakSet<http.IncomingMessage>();

export function setLingerBounds(req: http.IncomingMessage, bounds: LingerBounds): void {
  boundsOf.set(req, bounds);
}

/**
 * Reads and drops what is left of `req`'s body, within its front's bounds; past them the connection is
 * closed. Idempotent. The client's progress is what its socket has read (not a 'data' listener: Node's
 * own discard takes those off), looked at four times per idle bound.
 */
export function discardBody(req: http.IncomingMessage): void {
  req.resume();
  const socket = req.socket;
  if (req.complete || lingering.has(req) || !socket || socket.destroyed) return;
  lingering.add(req);
  const { timeMs, timeoutMs } = boundsOf.get(req) ?? DEFAULT_LINGER;
  const startedAt = performance.now();
  let progressAt = startedAt;
  let read = socket.bytesRead;
  const stop = () => {
    clearInterval(timer);
    req.off('end', stop);
    socket.off('close', stop);
  };
  const timer = setInterval(
    () => {
      if (req.complete) {
        stop();
        return;
      }
      const now = performance.now();
      if (socket.bytesRead !== read) {
        read = socket.bytesRead;
        progressAt = now;
      }
      if (now - progressAt >= timeoutMs || now - startedAt >= timeMs) {
        stop();
        socket.destroy();
      }
    },
    Math.max(1, Math.min(timeoutMs, timeMs) / 4),
  );
  req.once('end', stop);
  socket.once('close', stop);
}
