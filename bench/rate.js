// An open-loop load at a fixed rate (the published mesh figures are at 2,000 RPS): requests start on a
// schedule whatever the answers, over keep-alive connections; prints { sent, ok, p50us, p99us } as JSON.
// Usage: node bench/rate.js URL RPS SECONDS
import http from 'node:http';

const [url, rps, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const latencies = [];
let sent = 0;
let ok = 0;
let failed = 0;
const total = rps * seconds;
const start = performance.now();

function fire() {
  sent++;
  const began = performance.now();
  http
    .get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok++;
        else failed++;
        latencies.push((performance.now() - began) * 1000);
        if (ok + failed === total) finish();
      });
    })
    .on('error', () => {
      failed++;
      if (ok + failed === total) finish();
    });
}

function tick() {
  const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rps));
  while (sent < due) fire();
  if (sent < total) setTimeout(tick, 1);
}

function finish() {
  latencies.sort((a, b) => a - b);
  const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
  process.stdout.write(`${JSON.stringify({ sent, ok, failed, p50us: at(0.5), p99us: at(0.99) })}\n`);
  agent.destroy();
}

tick();
