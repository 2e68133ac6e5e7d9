// TCP mode: each client connection goes whole to one instance (layer 4), chosen by the service's
// strategy among ready, non-ejected instances; a refused connect moves on to the next instance.
// The sockets themselves are tcp-io's: libuv handles where Node has them, else net.Socket.
import { isIPv4 } from 'node:net';
import { isLocalShortage } from '../limits.js';
import { loadHandles } from '../uv-handles.js';
import type { Member, Members } from './members.js';
import { handleIo } from './tcp-handles.js';
import type { Endpoint, ListenReports, TcpIo, TcpListening } from './tcp-io.js';
import { netIo } from './tcp-net.js';

export interface TcpTarget {
  readonly members: Members;
  readonly holdTimeoutMs: number;
  readonly closing: boolean;
  track(member: Member, destroy: () => void): () => void;
  hold(deadline: number, wake: () => void, expire: () => void): () => void;
}

let chosen: TcpIo | undefined;

/** The fast path when this Node has it and `host` is an IPv4 address, else the public one. */
export function defaultTcpIo(host = '127.0.0.1'): TcpIo {
  if (!isIPv4(host)) return netIo;
  if (!chosen) {
    const handles = loadHandles();
    chosen = handles ? handleIo(handles) : netIo;
  }
  return chosen;
}

export function listenTcp(
  target: TcpTarget,
  io: TcpIo,
  host: string,
  port: number,
  reports: ListenReports,
): Promise<TcpListening> {
  return io.listen(host, port, (client) => connect(target, io, client), reports);
}

function connect(target: TcpTarget, io: TcpIo, client: Endpoint): void {
  const tried = new Set<string>();
  const deadline = Date.now() + target.holdTimeoutMs;

  const attempt = (): void => {
    if (client.destroyed) return;
    if (target.closing) {
      client.destroy();
      return;
    }
    const member = target.members.pick(tried);
    if (!member) {
      if (Date.now() < deadline) target.hold(deadline, attempt, attempt);
      else client.destroy();
      return;
    }
    target.members.begin(member, tried.size > 0);
    tried.add(member.key);
    let upstream: Endpoint | undefined;
    const untrack = target.track(member, () => {
      client.destroy();
      upstream?.destroy();
    });
    upstream = io.connect(member.host, member.port, (error) => {
      if (error || client.destroyed) {
        upstream?.destroy();
        untrack();
        // msup out of descriptors: not the instance's fault, and no other instance would do better.
        if (isLocalShortage((error as NodeJS.ErrnoException | undefined)?.code)) {
          target.members.end(member, false);
          client.destroy();
          return;
        }
        // A refused connect counts against the instance; one cut short by a stop or drain does not.
        const failed = error !== undefined && !client.destroyed;
        target.members.end(member, failed);
        if (failed) attempt();
        return;
      }
      io.splice(client, upstream as Endpoint, () => {
        untrack();
        target.members.end(member, false);
      });
    });
  };
  attempt();
}
