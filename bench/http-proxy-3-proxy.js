// For comparison only: the foundation's forwarding (http-proxy-3, a keep-alive agent per backend,
// round robin per request), in its own process like msup-proxy.js.
// Usage: node bench/http-proxy-3-proxy.js <front port> <backend port>...
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const [front, ...backends] = process.argv.slice(2);
const proxy = createProxyServer({ xfwd: true });
proxy.on('error', () => {});
const targets = backends.map((port) => ({
  target: `http://127.0.0.1:${port}`,
  agent: new http.Agent({ keepAlive: true, timeout: 4000, scheduling: 'lifo' }),
}));
let next = 0;
const server = http.createServer((req, res) => {
  const t = targets[next++ % targets.length];
  proxy.web(req, res, { target: t.target, agent: t.agent }, () => {
    res.writeHead(502);
    res.end();
  });
});
server.listen(Number(front), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
