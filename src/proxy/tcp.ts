// TCP mode: each client connection goes whole to one instance (layer 4), chosen by the service's
// strategy among ready, non-ejected instances; a refused connect moves on to the next instance.
import net from 'node:net';
import type { Member, Members } from './members.js';

export interface TcpTarget {
  readonly members: Members;
  readonly holdTimeoutMs: number;
  readonly closing: boolean;
  track(member: Member, destroy: () => void): () => void;
  hold(deadline: number, wake: () => void, expire: () => void): () => void;
}

export function createTcpListener(target: TcpTarget): net.Server {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) =>
    connect(target, client),
  );
  return server;
}

function connect(target: TcpTarget, client: net.Socket): void {
  client.on('error', () => client.destroy());
  const tried = new Set<string>();
  const deadline = Date.now() + target.holdTimeoutMs;
  let cancelHold: (() => void) | undefined;
  client.once('close', () => cancelHold?.());

  const attempt = (): void => {
    cancelHold = undefined;
    if (client.destroyed) return;
    if (target.closing) {
      client.destroy();
      return;
    }
    const member = target.members.pick(tried);
    if (!member) {
      if (Date.now() < deadline) cancelHold = target.hold(deadline, attempt, attempt);
      else client.destroy();
      return;
    }
    target.members.begin(member, tried.size > 0);
    tried.add(member.key);
    const upstream = net.connect({
      port: member.port,
      host: '127.0.0.1',
      allowHalfOpen: true,
      noDelay: true,
    });
    let connected = false;
    let failed = false;
    let open = 2;
    const untrack = target.track(member, () => {
      client.destroy();
      upstream.destroy();
    });
    const closed = () => {
      if (--open > 0) return;
      untrack();
      target.members.end(member, failed);
    };
    upstream.once('connect', () => {
      connected = true;
      client.once('close', closed);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (connected) {
        client.destroy();
        return;
      }
      failed = true;
      untrack();
      target.members.end(member, true);
      attempt();
    });
    upstream.once('close', () => {
      if (!connected) return;
      // Let what the instance wrote reach the client, then close.
      client.end(() => client.destroy());
      closed();
    });
    client.once('close', () => upstream.destroy());
  };
  attempt();
}
