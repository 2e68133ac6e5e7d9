// Who owns a loopback connection's socket, from /proc/net/tcp and tcp6 as Linux writes them: each end of a
// connection is a line of its own, and only the peer's end names the peer's owner.
import { describe, expect, it } from 'vitest';
import { CLOSED_PEER, peerIsOwn, socketOwner } from '../../src/runtime/function/socket-owner.js';

const HEAD =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
// The Runtime API listens on 127.0.0.1:40000 (9C40); a client connected from 127.0.0.1:51000 (C738).
const TCP_LE = `${HEAD}   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:C738 01 00000000:00000000 00:00000000 00000000     0        0 12 1 0 20 4 30 10 -1
   2: 0100007F:C738 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 13 1 0 20 4 30 10 -1
   3: 0A00020F:C738 5DB8D822:9C40 01 00000000:00000000 00:00000000 00000000  1001        0 14 1 0 20 4 30 10 -1
`;
const server = { address: '127.0.0.1', port: 40000 };
const peer = { address: '127.0.0.1', port: 51000 };

describe('socketOwner', () => {
  it("finds the peer's end of a connection, not the server's own end or another host's", () => {
    expect(socketOwner(TCP_LE, peer, server, true)).toBe(1000);
    expect(socketOwner(TCP_LE, server, peer, true)).toBe(0);
    expect(socketOwner(TCP_LE, { address: '127.0.0.1', port: 51001 }, server, true)).toBeNull();
    expect(socketOwner(TCP_LE, { address: '127.0.0.2', port: 51000 }, server, true)).toBeNull();
  });

  it("tells a socket its process has closed (no file: inode 0, listed as uid 0) from root's", () => {
    // The client wrote its request and closed its socket: its end waits in FIN_WAIT2 (05) or TIME_WAIT (06).
    for (const state of ['05', '06']) {
      const closed = TCP_LE.replace(
        '   2: 0100007F:C738 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 13 1 0 20 4 30 10 -1',
        `   2: 0100007F:C738 0100007F:9C40 ${state} 00000000:00000000 03:00001756 00000000     0        0 0 3 0000000000000000`,
      );
      expect(socketOwner(closed, peer, server, true)).toBe(CLOSED_PEER);
    }
    // A sandbox that cannot tell a socket's file lists 0 for every one: an ESTABLISHED socket is still its uid's.
    const noFiles = TCP_LE.replace(
      ' 1000        0 13 1 0 20 4 30 10 -1',
      ' 1000        0 0 1 0 20 4 30 10 -1',
    );
    expect(socketOwner(noFiles, peer, server, true)).toBe(1000);
  });

  it('reads a big-endian host, an IPv4-mapped address in tcp6, and refuses what is not IPv4', () => {
    const be = TCP_LE.replaceAll('0100007F', '7F000001');
    expect(socketOwner(be, peer, server, false)).toBe(1000);
    const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:C738 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000  1002        0 15 1 0 20 4 30 10 -1
`;
    expect(socketOwner(tcp6, { address: '::ffff:127.0.0.1', port: 51000 }, server, true)).toBe(1002);
    expect(socketOwner(tcp6, peer, server, true)).toBe(1002);
    expect(socketOwner(TCP_LE, { address: '::1', port: 51000 }, server, true)).toBeNull();
  });
});

describe('peerIsOwn', () => {
  const own = process.getuid?.() ?? 0;
  it.skipIf(process.platform !== 'linux')(
    "refuses a peer listed as another user's, and lets in one the tables do not list (after a second look)",
    async () => {
      const answers = (...uids: (number | null)[]) => {
        let calls = 0;
        const lookup = async () => uids[Math.min(calls++, uids.length - 1)] ?? null;
        return { lookup, calls: () => calls };
      };
      const other = own === 4242 ? 4243 : 4242;
      expect(await peerIsOwn(peer, server, answers(other).lookup)).toBe(false);
      expect(await peerIsOwn(peer, server, answers(own).lookup)).toBe(true);
      // Missed by the first read (sockets coming and going), found by the second.
      const missed = answers(null, other);
      expect(await peerIsOwn(peer, server, missed.lookup)).toBe(false);
      expect(missed.calls()).toBe(2);
      // Closed by its process before the read (whoever it was): nobody can read an answer.
      expect(await peerIsOwn(peer, server, answers(CLOSED_PEER).lookup)).toBe(false);
      // Listed nowhere (an empty table in some sandboxes): it was closed unanswered, and the bootstrap failed.
      expect(await peerIsOwn(peer, server, answers(null, null).lookup)).toBe(true);
    },
  );
});
