// Answers the proxy writes itself (plain text, its own status), and the request target it forwards;
// shared by the fronts, the listener and the exchange.
import type http from 'node:http';

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
