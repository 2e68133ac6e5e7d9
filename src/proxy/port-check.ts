// Whether an instance is gone, after a reset: tells the death of the instance's process (or a stop
// under way) apart from an instance that cut a connection while alive (overload). A dying process
// closes its sockets in descriptor order, so its listener may still complete a handshake for a
// moment after a connection was reset; the queued connection is then reset too. So a connect is
// held for a short while: refused, reset or closed means gone; still open means alive.
import net from 'node:net';

/**
 * Resolves true when `host`:`port` refuses connections, or resets or closes a new one within
 * `waitMs`, or `left()` turns true meanwhile (msup saw the exit); false when a connection stays up.
 */
export function instanceGone(
  host: string,
  port: number,
  left: () => boolean,
  waitMs = 250,
): Promise<boolean> {
  if (left()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let settled = false;
    const done = (gone: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(watch);
      socket.destroy();
      resolve(gone);
    };
    const timer = setTimeout(() => done(left()), waitMs);
    const watch = setInterval(() => {
      if (left()) done(true);
    }, 20);
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET' || error.code === 'EPIPE'),
    );
    socket.once('end', () => done(true));
    socket.resume();
  });
}
