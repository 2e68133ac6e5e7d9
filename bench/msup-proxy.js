// msup's proxy alone in its own process (so its CPU can be read from /proc), over the benchmark backends.
// Usage: node bench/msup-proxy.js <mode http|tcp> <front port> <backend port>...
import { ServiceProxy } from '../dist/proxy/server.js';

const [mode, front, ...backends] = process.argv.slice(2);
const proxy = new ServiceProxy('bench', { mode: mode === 'tcp' ? 'tcp' : 'http' });
backends.forEach((port, i) => {
  proxy.add(`bench#${i}:${port}`, `bench#${i}`, { host: '127.0.0.1', port: Number(port) });
});
await proxy.listen(Number(front));
process.send?.('ready');
process.on('SIGTERM', () => proxy.close().then(() => process.exit(0)));
