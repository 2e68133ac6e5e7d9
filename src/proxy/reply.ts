// Answers the proxy writes itself (plain text, its own status, always a sentence), and the request
// target it forwards; shared by the fronts, the listener, the exchange and upgrades.
import http from 'node:http';
import type net from 'node:net';

export function replyText(
  res: http.ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/**
 * An answer written straight on a connection Node's server has let go of (an upgrade, CONNECT, a client
 * error), which then closes: the status, `Connection: close`, and `text` as a plain-text body.
 */
export function replySocket(
  socket: net.Socket,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  socket.on('error', () => {});
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = `${text}\n`;
  const more = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${more}Connection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/**
 * The authority (`host[:port]`) of an absolute-form request target (`http://host:8080/x`), or undefined for
 * any other form. It wins over the Host header (RFC 9112 §3.2.2), for routing and for the Host sent on,
 * as nginx has it.
 */
export function targetAuthority(url: string): string | undefined {
  if (!/^https?:\/\//i.test(url)) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/** The origin-form path of a request target: absolute-form (`http://host/x`) is reduced to `/x`. */
export function originForm(url: string): string | undefined {
  if (url.startsWith('/')) return url;
  if (!/^https?:\/\//i.test(url)) return undefined; // e.g. `*` (OPTIONS) or authority-form
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return undefined;
  }
}
