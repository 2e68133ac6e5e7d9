// A load of exactly N keep-alive GET requests over C connections (wrk runs for a time, not a count):
// for counting the instructions a proxy spends on a known number of requests.
// Usage: node bench/fixed-load.js <port> <requests> [connections=8]
// Prints `{ requests, errors, ms }` as JSON. Responses must carry Content-Length (the bench backend's do).
import net from 'node:net';

const port = Number(process.argv[2]);
const total = Number(process.argv[3]);
const connections = Number(process.argv[4] ?? 8);
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);

let sent = 0;
let done = 0;
let errors = 0;
const started = Date.now();

function connection() {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    const next = () => {
      if (sent >= total) {
        socket.end();
        resolve();
        return;
      }
      sent++;
      socket.write(REQUEST);
    };
    socket.on('connect', next);
    socket.on('data', (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
        if (!Number.isFinite(length)) {
          errors++;
          socket.destroy();
          resolve();
          return;
        }
        if (buffered.length < end + 4 + length) return;
        if (!head.startsWith('HTTP/1.1 200')) errors++;
        buffered = buffered.subarray(end + 4 + length);
        done++;
        next();
      }
    });
    socket.on('error', () => {
      errors++;
      resolve();
    });
  });
}

await Promise.all(Array.from({ length: connections }, connection));
console.log(JSON.stringify({ requests: done, errors, ms: Date.now() - started }));
