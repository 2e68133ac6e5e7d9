// A minimal HTTP backend for the benchmark: a small fixed answer, keep-alive, nothing else.
import http from 'node:http';

const body = Buffer.from('hello from the benchmark backend\n');
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
