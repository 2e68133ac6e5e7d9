// WebSocket (and other) upgrades: a byte pipe to one instance through http-proxy-3, counted as in
// flight on that instance until either side closes, so a drain can wait for it or cut it. While no
// instance is ready the upgrade is held like a request (a dev server's HMR reconnecting mid-restart).
// msup opens the connection to the instance itself and hands it to http-proxy-3: a connect that fails
// sent nothing, so the upgrade goes to the next instance, as a request does (http-proxy-3 would end the
// client's connection). The upgrade's request line and headers are the ones a request would get
// (upstreamHeaders, originForm), plus `Connection: Upgrade` and `Upgrade`: msup writes them over what
// http-proxy-3 built (the client's headers as they came, its own X-Forwarded-*, its URL-normalized path).
// http-proxy-3 is loaded at the first upgrade, so a process that never sees one never loads it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { ProxyServer } from 'http-proxy-3';
import { isLocalShortage } from '../limits.js';
import { upstreamHeaders } from './headers.js';
import type { Member, Members } from './members.js';
import { originForm, replySocket, targetAuthority } from './reply.js';
import { classifyFailure, describeFailure, isTimeout } from './retry.js';
import { CONNECT_TIMEOUT_MS } from './upstream-pool.js';

export interface UpgradeTarget {
  readonly service: string;
  readonly members: Members;
  readonly closing: boolean;
  readonly holdTimeoutMs: number;
  /** How long the instance has to answer the upgrade (its 101); 0: no limit. */
  readonly responseTimeoutMs: number;
  /** The instance did not answer in time: out of rotation, as for a request. */
  stalled(member: Member): void;
  track(member: Member, destroy: () => void): () => void;
  hold(deadline: number, wake: () => void, expire: () => void): () => void;
}

export type UpgradeProxy = ReturnType<typeof createUpgradeProxy>;

/**
 * What to do with the outgoing request of each upgrade under way, by its client's socket (http-proxy-3's
 * proxyReqWs, emitted before the request's head is written).
 */
const outgoing = new WeakMap<net.Socket, (proxyReq: http.ClientRequest) => void>();

/** Why the last instance tried could not be reached: the answer when none is left says it. */
interface ConnectFailure {
  label: string;
  why: string;
  timedOut: boolean;
}

let httpProxy: typeof import('http-proxy-3') | undefined;

const TIMED_OUT = 'MSUP_RESPONSE_TIMEOUT';

function proxyServer(): ProxyServer {
  httpProxy ??= createRequire(import.meta.url)('http-proxy-3') as typeof import('http-proxy-3');
  // No xfwd: msup sets X-Forwarded-* itself, as for a request (http-proxy-3's say `ws` and port 80).
  const proxy = httpProxy.createProxyServer({ xfwd: false });
  proxy.on('error', () => {});
  proxy.on('proxyReqWs', (proxyReq: http.ClientRequest, _req: http.IncomingMessage, socket: net.Socket) => {
    const watch = outgoing.get(socket);
    outgoing.delete(socket);
    watch?.(proxyReq);
  });
  return proxy;
}

/**
 * An agent whose one connection is `connection`, already open: http-proxy-3 sends the upgrade over it
 * (its `agent` option) instead of connecting itself. Not kept alive: a non-101 answer closes it.
 */
function agentOver(connection: net.Socket): http.Agent {
  const agent = new http.Agent();
  agent.createConnection = () => connection;
  return agent;
}

/** What the instance is sent for an upgrade: its request target and headers (a flat `[name, value, ...]`). */
interface Outgoing {
  readonly path: string;
  readonly headers: readonly string[];
}

/**
 * The upgrade's request for the instance: the headers a request gets (hop-by-hop ones stripped, msup's
 * X-Forwarded-*, X-Request-Id), plus `Connection: Upgrade` and the client's `Upgrade`, which
 * upstreamHeaders strips as hop-by-hop. The `Sec-WebSocket-*` handshake headers are end-to-end and pass
 * as any other.
 */
function upgradeRequest(req: http.IncomingMessage, path: string, authority?: string): Outgoing {
  const headers = upstreamHeaders(req.rawHeaders, {
    peer: req.socket.remoteAddress ?? '',
    port: req.socket.localPort ?? 0,
    proto: 'http',
    requestId: randomUUID,
    host: authority,
  });
  headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade?.trim() || 'websocket');
  return { path, headers };
}

/**
 * Replaces what http-proxy-3 set on `proxyReq` (before its head is written) with `request`. A name that
 * comes twice is sent twice, as a request's would be (Node's client joins Cookie lines with `; `, which
 * means the same). Node's own Host stays only when the client sent none (as the request clients add one).
 */
function rewrite(proxyReq: http.ClientRequest, request: Outgoing): void {
  const byName = new Map<string, { name: string; values: string[] }>();
  const { headers } = request;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const lower = name.toLowerCase();
    const entry = byName.get(lower);
    if (entry) entry.values.push(headers[i + 1] as string);
    else byName.set(lower, { name, values: [headers[i + 1] as string] });
  }
  for (const name of proxyReq.getHeaderNames()) {
    if (!byName.has(name) && name !== 'host') proxyReq.removeHeader(name);
  }
  for (const { name, values } of byName.values()) {
    proxyReq.setHeader(name, values.length === 1 ? (values[0] as string) : values);
  }
  // The path as a request would be sent: http-proxy-3 passes it through a URL (`/a/../b` became `/b`).
  proxyReq.path = request.path;
}

export function createUpgradeProxy() {
  let proxy: ProxyServer | undefined;

  /** Hands the upgrade to http-proxy-3 over `connection`, open to `member`; `failed` marks the attempt failed. */
  function pipe(
    target: UpgradeTarget,
    member: Member,
    connection: net.Socket,
    request: Outgoing,
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    failed: () => void,
  ): void {
    // What the connection carried before (earlier answers on a kept-alive or pipelined connection).
    const writtenBefore = socket.bytesWritten;
    outgoing.set(socket, (proxyReq) => {
      // A head already written (Node's client writes it at once for some headers, such as Expect, which
      // upgrade() takes off first): rewriting it threw inside a connect callback, which ended msup.
      if (proxyReq.headersSent) {
        proxyReq.destroy(new Error('the upgrade request was sent before msup could set its headers'));
        return;
      }
      rewrite(proxyReq, request);
      // The instance has responseTimeout to answer the upgrade, as a request has for its headers.
      if (target.responseTimeoutMs > 0) {
        const timer = setTimeout(() => {
          target.stalled(member);
          proxyReq.destroy(Object.assign(new Error('no answer to the upgrade in time'), { code: TIMED_OUT }));
        }, target.responseTimeoutMs);
        const answered = () => clearTimeout(timer);
        proxyReq.once('upgrade', answered);
        proxyReq.once('response', answered);
        proxyReq.once('close', answered);
      }
    });
    proxy ??= proxyServer();
    proxy.ws(
      req,
      socket,
      head,
      {
        target: `http://${member.host.includes(':') ? `[${member.host}]` : member.host}:${member.port}`,
        agent: agentOver(connection),
      },
      (error) => {
        // Once the instance's answer (its 101) has gone to the client, the bytes are the two ends' own: a
        // reset there ends the client's connection too, and is no failure of the instance; an HTTP status
        // written into the stream would be read as a WebSocket frame.
        if (socket.bytesWritten > writtenBefore) {
          socket.destroy();
          return;
        }
        failed();
        const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
        if (code === TIMED_OUT) {
          replySocket(socket, 504, `${member.label} did not answer the upgrade within responseTimeout`);
        } else {
          const why = describeFailure(code, classifyFailure({ code }), message ?? 'no answer');
          replySocket(socket, 502, `${member.label} failed: ${why}`);
        }
      },
    );
  }

  /**
   * One attempt: msup connects to `member`, then hands the upgrade over. A connect that fails sent
   * nothing: `next` tries another instance (or holds, then answers). A drain or the client's close cuts
   * the connect under way.
   */
  function attempt(
    target: UpgradeTarget,
    member: Member,
    retry: boolean,
    request: Outgoing,
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    next: (failure: ConnectFailure) => void,
  ): void {
    target.members.begin(member, retry);
    let failed = false;
    let ended = false;
    const connection = net.connect({ host: member.host, port: member.port });
    // Errors once connected are http-proxy-3's to handle; this one keeps a late one from ending msup.
    connection.on('error', () => {});
    const untrack = target.track(member, () => {
      connection.destroy();
      socket.destroy();
    });
    const end = (): void => {
      if (ended) return;
      ended = true;
      untrack();
      target.members.end(member, failed);
    };
    const clientGone = (): void => {
      connection.destroy();
      end();
    };
    socket.once('close', clientGone);
    connection.setTimeout(CONNECT_TIMEOUT_MS, () =>
      connection.destroy(Object.assign(new Error('connect timed out'), { code: 'MSUP_CONNECT_TIMEOUT' })),
    );
    const connectFailed = (error: NodeJS.ErrnoException): void => {
      socket.off('close', clientGone);
      // msup out of descriptors is not the instance's failure, and another would fare no better.
      const local = isLocalShortage(error.code);
      failed = !local;
      end();
      if (socket.destroyed) return;
      if (local) {
        replySocket(
          socket,
          503,
          `msup could not reach ${target.service}: ${error.code} (out of file descriptors)`,
          {
            'Retry-After': '1',
          },
        );
      } else if (classifyFailure({ code: error.code }) === 'connect') {
        next({
          label: member.label,
          why: describeFailure(error.code, 'connect', error.message),
          timedOut: isTimeout(error.code),
        });
      } else
        replySocket(
          socket,
          502,
          `${member.label} failed: ${describeFailure(error.code, 'sent', error.message)}`,
        );
    };
    connection.once('error', connectFailed);
    connection.once('connect', () => {
      connection.off('error', connectFailed);
      connection.setTimeout(0);
      pipe(target, member, connection, request, req, socket, head, () => {
        failed = true;
      });
    });
  }

  return {
    upgrade(
      target: UpgradeTarget,
      req: http.IncomingMessage,
      socket: net.Socket,
      head: Buffer,
      url?: string,
    ): void {
      socket.on('error', () => {});
      // The target rules of a request: absolute-form reduced to its path, anything else (`*`) refused.
      const path = originForm(url ?? req.url ?? '/');
      if (path === undefined) {
        replySocket(socket, 400, `cannot forward a request for ${JSON.stringify(url ?? req.url)}`);
        return;
      }
      // An absolute-form target's host wins over Host (RFC 9112 §3.2.2), as for a request.
      const authority = targetAuthority(req.url ?? '/');
      req.url = path;
      // Built once: a retry on another instance sends the same request (its X-Request-Id too).
      const request = upgradeRequest(req, path, authority);
      // http-proxy-3 hands req.headers to Node's client, which writes the head at once when it has an
      // Expect (before msup's headers replace them). Dropped, as for a request (msup answers
      // 100 Continue itself); the request built above comes from rawHeaders, without it already.
      delete req.headers.expect;
      const deadline = Date.now() + target.holdTimeoutMs;
      /** Instances whose connect failed for this upgrade. */
      const tried = new Set<string>();
      let cancel: (() => void) | undefined;
      socket.once('close', () => cancel?.());
      let last: ConnectFailure | undefined;
      const go = (failure?: ConnectFailure): void => {
        cancel = undefined;
        if (failure) last = failure;
        if (socket.destroyed) return;
        const member = target.closing ? undefined : target.members.pick(tried);
        if (member) {
          const retry = tried.size > 0;
          tried.add(member.key);
          attempt(target, member, retry, request, req, socket, head, go);
        } else if (!target.closing && Date.now() < deadline) {
          cancel = target.hold(
            deadline,
            () => go(),
            () => go(),
          );
        } else if (target.closing) {
          replySocket(socket, 503, `${target.service} is shutting down`, { 'Retry-After': '1' });
        } else if (last) {
          // As nginx: 504 when the last instance tried timed out, 502 otherwise.
          replySocket(
            socket,
            last.timedOut ? 504 : 502,
            `no instance of ${target.service} could take the upgrade; the last one, ${last.label}, failed: ${last.why}`,
          );
        } else replySocket(socket, 503, `no ready instance of ${target.service}`, { 'Retry-After': '1' });
      };
      go();
    },
    close(): void {
      proxy?.close();
    },
  };
}
