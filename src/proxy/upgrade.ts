// WebSocket (and other) upgrades: a byte pipe to one instance through http-proxy-3, counted as in
// flight on that instance until either side closes, so a drain can wait for it or cut it. While no
// instance is ready the upgrade is held like a request (a dev server's HMR reconnecting mid-restart).
// http-proxy-3 is loaded at the first upgrade, so a process that never sees one never loads it.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import type { ProxyServer } from 'http-proxy-3';
import { isLocalShortage } from '../limits.js';
import { isForwarding, isLoopback } from './headers.js';
import type { Member, Members } from './members.js';

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

/** The outgoing request of each upgrade under way, by its client's socket (http-proxy-3's proxyReqWs). */
const outgoing = new WeakMap<net.Socket, (proxyReq: http.ClientRequest) => void>();

function refuse(socket: net.Socket, status: string): void {
  if (socket.writable && !socket.destroyed) {
    socket.end(`HTTP/1.1 ${status}\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
}

let httpProxy: typeof import('http-proxy-3') | undefined;

const TIMED_OUT = 'MSUP_RESPONSE_TIMEOUT';

function proxyServer(): ProxyServer {
  httpProxy ??= createRequire(import.meta.url)('http-proxy-3') as typeof import('http-proxy-3');
  const proxy = httpProxy.createProxyServer({ xfwd: true });
  proxy.on('error', () => {});
  proxy.on('proxyReqWs', (proxyReq: http.ClientRequest, _req: http.IncomingMessage, socket: net.Socket) => {
    const watch = outgoing.get(socket);
    outgoing.delete(socket);
    watch?.(proxyReq);
  });
  return proxy;
}

export function createUpgradeProxy() {
  let proxy: ProxyServer | undefined;

  function pipe(
    target: UpgradeTarget,
    member: Member,
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
  ): void {
    if (!isLoopback(req.socket.remoteAddress)) {
      for (const name of Object.keys(req.headers)) {
        if (isForwarding(name)) delete req.headers[name];
      }
    }
    req.headers['x-request-id'] ??= randomUUID();
    target.members.begin(member, false);
    let failed = false;
    // What the connection carried before (earlier answers on a kept-alive or pipelined connection).
    const writtenBefore = socket.bytesWritten;
    const untrack = target.track(member, () => socket.destroy());
    socket.once('close', () => {
      untrack();
      target.members.end(member, failed);
    });
    // The instance has responseTimeout to answer the upgrade, as a request has for its headers.
    if (target.responseTimeoutMs > 0) {
      outgoing.set(socket, (proxyReq) => {
        const timer = setTimeout(() => {
          target.stalled(member);
          proxyReq.destroy(Object.assign(new Error('no answer to the upgrade in time'), { code: TIMED_OUT }));
        }, target.responseTimeoutMs);
        const answered = () => clearTimeout(timer);
        proxyReq.once('upgrade', answered);
        proxyReq.once('response', answered);
        proxyReq.once('close', answered);
      });
    }
    proxy ??= proxyServer();
    proxy.ws(
      req,
      socket,
      head,
      { target: `http://${member.host.includes(':') ? `[${member.host}]` : member.host}:${member.port}` },
      (error) => {
        // Once the instance's answer (its 101) has gone to the client, the bytes are the two ends' own: a
        // reset there ends the client's connection too, and is no failure of the instance; an HTTP status
        // written into the stream would be read as a WebSocket frame.
        if (socket.bytesWritten > writtenBefore) {
          socket.destroy();
          return;
        }
        // msup out of descriptors is not the instance's failure.
        const code = (error as NodeJS.ErrnoException | undefined)?.code;
        const local = isLocalShortage(code);
        failed = !local;
        refuse(
          socket,
          local ? '503 Service Unavailable' : code === TIMED_OUT ? '504 Gateway Timeout' : '502 Bad Gateway',
        );
      },
    );
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
      if (url !== undefined) req.url = url;
      const deadline = Date.now() + target.holdTimeoutMs;
      let cancel: (() => void) | undefined;
      socket.once('close', () => cancel?.());
      const go = (): void => {
        cancel = undefined;
        if (socket.destroyed) return;
        const member = target.closing ? undefined : target.members.pick();
        if (member) pipe(target, member, req, socket, head);
        else if (!target.closing && Date.now() < deadline) cancel = target.hold(deadline, go, go);
        else refuse(socket, '503 Service Unavailable');
      };
      go();
    },
    close(): void {
      proxy?.close();
    },
  };
}
