// Who owns the other end of a loopback TCP connection, as Linux reports it (/proc/net/tcp, /proc/net/tcp6):
// the Runtime API lets in only connections from sockets of msup's own user. Elsewhere, unknown.
import { readFile } from 'node:fs';
import os from 'node:os';

export interface SocketAddress {
  /** IPv4, dotted (an IPv4-mapped IPv6 address is taken as its IPv4 one). */
  address: string;
  port: number;
}

/** An address as /proc/net/tcp* prints it: each 32-bit word in the host's byte order, in hex. */
function words(address: string, littleEndian: boolean): { v4: string; mapped: string } | null {
  const bytes = address
    .replace(/^::ffff:/i, '')
    .split('.')
    .map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) return null;
  const hex = (list: number[]) =>
    list
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase();
  const word = (list: number[]) => hex(littleEndian ? [...list].reverse() : list);
  const v4 = word(bytes);
  return { v4, mapped: `0000000000000000${word([0, 0, 0xff, 0xff])}${v4}` };
}

const port4 = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');

/**
 * What socketOwner says of a socket its process has closed: the kernel keeps such an end (FIN_WAIT2,
 * TIME_WAIT) with no file (inode 0) and lists it as uid 0, the same as root's. Whoever it was, it can
 * read no answer: not let in.
 */
export const CLOSED_PEER = -1;

/**
 * The uid that owns the socket at `local` connected to `remote`, from the text of /proc/net/tcp or
 * /proc/net/tcp6, CLOSED_PEER when that socket has been closed by its process, or null when no such
 * connection is listed. (Each line: sl, local address, remote address, state, queues, timer, retransmits,
 * uid, timeout, inode, ...; a connection over loopback is listed twice, once from each end: `local` says
 * which end.)
 */
export function socketOwner(
  table: string,
  local: SocketAddress,
  remote: SocketAddress,
  littleEndian = os.endianness() === 'LE',
): number | null {
  const l = words(local.address, littleEndian);
  const r = words(remote.address, littleEndian);
  if (!l || !r) return null;
  const keys = [
    ` ${l.v4}:${port4(local.port)} ${r.v4}:${port4(remote.port)} `,
    ` ${l.mapped}:${port4(local.port)} ${r.mapped}:${port4(remote.port)} `,
  ];
  for (const key of keys) {
    const at = table.indexOf(key);
    if (at < 0) continue;
    const lineStart = table.lastIndexOf('\n', at) + 1;
    const lineEnd = table.indexOf('\n', at);
    const fields = table
      .slice(lineStart, lineEnd < 0 ? undefined : lineEnd)
      .trim()
      .split(/\s+/);
    const uid = Number(fields[7]);
    // No file, and not ESTABLISHED (01), which a socket its process closed never is (a sandbox that cannot
    // tell a socket's file lists 0 for every one).
    if (fields[9] === '0' && fields[3] !== '01') return CLOSED_PEER;
    return Number.isInteger(uid) ? uid : null;
  }
  return null;
}

const read = (file: string) =>
  new Promise<string | null>((resolve) =>
    readFile(file, 'latin1', (error, text) => resolve(error ? null : text)),
  );

/** The read of /proc/net/tcp under way, and the one queued after it. */
let reading: Promise<string | null> | null = null;
let following: Promise<string | null> | null = null;

/**
 * /proc/net/tcp as read after this call: connections accepted together share one read (an environment
 * with a concurrency above 1 opens a connection per poll, many at once). A read already under way may
 * have been written before the caller's connection existed, so callers wait for the next one.
 */
function tcpTable(): Promise<string | null> {
  if (reading) {
    following ??= reading.then(() => {
      following = null;
      return tcpTable();
    });
    return following;
  }
  const started = read('/proc/net/tcp').finally(() => {
    if (reading === started) reading = null;
  });
  reading = started;
  return started;
}

/** The owner of the peer's socket in the tables as read now, or null when neither lists it. */
async function ownerNow(peer: SocketAddress, server: SocketAddress): Promise<number | null> {
  const tcp = await tcpTable();
  const uid = tcp === null ? null : socketOwner(tcp, peer, server);
  if (uid !== null) return uid;
  // A client's IPv6 socket that connected to 127.0.0.1 is listed in tcp6, as ::ffff:127.0.0.1.
  const tcp6 = await read('/proc/net/tcp6');
  return tcp6 === null ? null : socketOwner(tcp6, peer, server);
}

/**
 * Whether a connection's peer may be let in: its socket is not listed as another user's (msup's user and
 * root, who could read msup's memory anyway, are let in), nor as closed by its process (listed as uid 0,
 * but whose it was cannot be told: a request written and its socket closed at once was let in as root's,
 * and took an invocation it could never read). A peer the tables do not list is let in too:
 * an empty /proc/net/tcp (some sandboxes), or a read that missed the line while sockets came and went
 * (the kernel writes the table in pieces); it is read a second time first. `true` when it cannot be told
 * at all: not Linux, no /proc. Asynchronous: the kernel takes milliseconds to write these files (3 ms for
 * 200 sockets), too long for the event loop.
 */
export async function peerIsOwn(
  peer: SocketAddress,
  server: SocketAddress,
  lookup: (peer: SocketAddress, server: SocketAddress) => Promise<number | null> = ownerNow,
): Promise<boolean> {
  const own = process.getuid?.();
  if (process.platform !== 'linux' || own === undefined) return true;
  const uid = (await lookup(peer, server)) ?? (await lookup(peer, server));
  if (uid === CLOSED_PEER) return false;
  return uid === null || uid === own || uid === 0;
}
