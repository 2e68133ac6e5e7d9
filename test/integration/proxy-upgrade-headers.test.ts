// A WebSocket upgrade reaches its instance with the request line and headers a plain request gets (hop-by-hop
// headers stripped, msup's X-Forwarded-*, the same target rules), plus `Connection: Upgrade` and `Upgrade`.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { raw, type Seen, statusOf, useUpstreams } from '../helpers/upstreams.js';

const { headRecorder: recorder, proxy } = useUpstreams();

const HANDSHAKE = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** What the upgrade alone adds: Connection (a request gets the client's keep-alive), Upgrade, the handshake. */
const upgradeOnly = (name: string) =>
  name === 'connection' || name === 'upgrade' || name.startsWith('sec-websocket-');

/**
 * The same request with `headers` sent once as a plain request and once as a WebSocket upgrade, through
 * a fresh front: what the instance got for each.
 */
async function bothWays(target: string, headers: string, host?: string) {
  const instance = await recorder();
  const front = await proxy([instance.port], host ? { host } : {});
  const plain = `GET ${target} HTTP/1.1\r\n${headers}Connection: X-Secret, Keep-Alive\r\n\r\n`;
  expect(await statusOf(front.port, plain, host)).toBe('HTTP/1.1 200 OK');
  const upgrade =
    `GET ${target} HTTP/1.1\r\n${headers}Connection: Upgrade, X-Secret, Keep-Alive\r\n` +
    `Upgrade: websocket\r\n${HANDSHAKE}\r\n`;
  expect(await statusOf(front.port, upgrade, host)).toBe('HTTP/1.1 101 Switching Protocols');
  const [request, upgraded] = instance.seen as [Seen, Seen];
  return { front: front.port, request, upgraded };
}

/**
 * The headers both ways have in common, sorted, X-Request-Id's value (a fresh UUID each) masked, and the
 * Cookie lines as one (Node's client joins them with `; `, as RFC 6265 §5.4 has a client send them).
 */
function common(seen: Seen): string[] {
  const lines = seen.headers
    .filter(([name]) => !upgradeOnly(name) && name !== 'cookie')
    .map(([name, value]) => `${name}: ${name === 'x-request-id' ? 'UUID' : value}`);
  const cookies = valuesOf(seen, 'cookie');
  if (cookies.length > 0) lines.push(`cookie: ${cookies.join('; ')}`);
  return lines.sort();
}

const valuesOf = (seen: Seen, name: string) =>
  seen.headers.filter(([n]) => n === name).map(([, value]) => value);

describe('WebSocket upgrade headers', () => {
  it('sends an upgrade the request line and headers a request gets, plus Connection: Upgrade and Upgrade', async () => {
    const headers =
      'Host: app.test\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\n' +
      'TE: trailers\r\nX-Forwarded-For: 10.1.2.3\r\nCookie: a=1\r\nCookie: b=2\r\n';
    const { front, request, upgraded } = await bothWays('/p/../q?x=1', headers);
    expect(upgraded.line).toBe('GET /p/../q?x=1 HTTP/1.1');
    expect(upgraded.line).toBe(request.line);
    expect(common(upgraded)).toEqual(common(request));
    const names = upgraded.headers.map(([name]) => name);
    for (const hop of ['x-secret', 'keep-alive', 'proxy-authorization', 'te'])
      expect(names).not.toContain(hop);
    expect(valuesOf(upgraded, 'connection')).toEqual(['Upgrade']);
    expect(valuesOf(upgraded, 'upgrade')).toEqual(['websocket']);
    expect(valuesOf(upgraded, 'sec-websocket-key')).toEqual(['dGhlIHNhbXBsZSBub25jZQ==']);
    expect(valuesOf(upgraded, 'sec-websocket-version')).toEqual(['13']);
    expect(valuesOf(upgraded, 'cookie').join('; ')).toBe('a=1; b=2');
    expect(valuesOf(upgraded, 'host')).toEqual(['app.test']);
    // From loopback (another proxy on this machine) the chain is appended to, as for a request.
    expect(valuesOf(upgraded, 'x-forwarded-for')).toEqual(['10.1.2.3, 127.0.0.1']);
    expect(valuesOf(upgraded, 'x-forwarded-proto')).toEqual(['http']);
    expect(valuesOf(upgraded, 'x-forwarded-host')).toEqual(['app.test']);
    expect(valuesOf(upgraded, 'x-forwarded-port')).toEqual([String(front)]);
    expect(valuesOf(upgraded, 'x-request-id')[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('drops Expect from an upgrade, as from a request (it made Node write the head before msup set it: an uncaught throw)', async () => {
    const instance = await recorder();
    const { port } = await proxy([instance.port]);
    const upgrade = (expectation: string) =>
      `GET /ws HTTP/1.1\r\nHost: app.test\r\nExpect: ${expectation}\r\nConnection: Upgrade\r\n` +
      `Upgrade: websocket\r\n${HANDSHAKE}\r\n`;
    expect(await statusOf(port, upgrade('100-continue'))).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await statusOf(port, upgrade('anything'))).toBe('HTTP/1.1 101 Switching Protocols');
    expect(instance.seen).toHaveLength(2);
    for (const seen of instance.seen) expect(valuesOf(seen, 'expect')).toEqual([]);
  });

  it('answers 400 to an upgrade for `*`, as to a request, and reduces an absolute-form target to its path and its host', async () => {
    const instance = await recorder();
    const { port } = await proxy([instance.port]);
    const star = `GET * HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${HANDSHAKE}\r\n`;
    expect(await statusOf(port, star)).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw(port, star)).toMatch(/^HTTP\/1\.1 400 [\s\S]*cannot forward a request for "\*"/);
    expect(await raw(port, 'GET * HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 400 [\s\S]*cannot forward a request for "\*"/,
    );
    expect(instance.seen).toEqual([]);
    const absolute =
      'GET http://other.test/ws?x=1 HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\n' +
      `Upgrade: websocket\r\n${HANDSHAKE}\r\n`;
    expect(await statusOf(port, absolute)).toBe('HTTP/1.1 101 Switching Protocols');
    expect(instance.seen[0]?.line).toBe('GET /ws?x=1 HTTP/1.1');
    // The target's host wins over Host (RFC 9112 §3.2.2), as for a request.
    const seen = instance.seen[0] as Seen;
    expect(valuesOf(seen, 'host')).toEqual(['other.test']);
    expect(valuesOf(seen, 'x-forwarded-host')).toEqual(['other.test']);
  });

  // A client not on loopback: the front listens on this machine's own (non-loopback) address, and the
  // client connects from it.
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  it.skipIf(!external)(
    'replaces the X-Forwarded-* a client not on loopback sends, and drops its other spellings',
    async () => {
      const headers =
        'Host: app.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n' +
        'X-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 1\r\nForwarded: for=6.6.6.6\r\nX_Forwarded_For: 6.6.6.6\r\n';
      const { front, request, upgraded } = await bothWays('/ws', headers, external);
      expect(common(upgraded)).toEqual(common(request));
      const names = upgraded.headers.map(([name]) => name);
      expect(names).not.toContain('forwarded');
      expect(names).not.toContain('x_forwarded_for');
      expect(valuesOf(upgraded, 'x-forwarded-for')).toEqual([external]);
      expect(valuesOf(upgraded, 'x-forwarded-proto')).toEqual(['http']);
      expect(valuesOf(upgraded, 'x-forwarded-host')).toEqual(['app.test']);
      expect(valuesOf(upgraded, 'x-forwarded-port')).toEqual([String(front)]);
    },
  );
});
