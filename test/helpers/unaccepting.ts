// A loopback port whose connects hang: its listener never accepts (its process is blocked) and its accept
// queue is full, so the kernel drops new SYNs, as for a server past its backlog. For what must not wait
// on a connect (the proxy's drain, a probe's stop).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { waitFor } from './processes.js';

export interface Unaccepting {
  port: number;
  /** Ends the listener's process and the connects that fill its queue. */
  close(): Promise<void>;
}

export async function unacceptingPort(): Promise<Unaccepting> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {
        console.log(this.address().port);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const fillers: net.Socket[] = [];
  const close = async () => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve) =>
      child.stdout.once('data', (d) => resolve(Number(String(d)))),
    );
    for (let i = 0; i < 4; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      fillers.push(socket);
    }
    // Full once the first connects are through and the others stay pending (Linux takes backlog + 1).
    await waitFor(() => fillers.filter((s) => !s.pending).length === 2);
    if (!fillers.some((s) => s.pending)) throw new Error('the accept queue did not fill');
    return { port, close };
  } catch (error) {
    await close();
    throw error;
  }
}
