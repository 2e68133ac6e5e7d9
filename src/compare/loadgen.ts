// (runs as its own process) The compare's load generator: keep-alive GETs on loopback from C clients, up
// to N requests or a time limit, each latency kept. It runs apart from msup so that the load and msup
// never share an event loop. It speaks to its parent over the IPC channel (load-client.ts).
import http from 'node:http';
import type { LoadCommand, LoadMessage, LoadResult } from './load-protocol.js';

const PROGRESS_EVERY_MS = 200;

let stopRequested = false;

function send(message: LoadMessage): void {
  process.send?.(message);
}

/** What went wrong with a request that got no answer: a connection problem or our own time limit. */
function errorKind(error: NodeJS.ErrnoException, timedOut: boolean): 'timeout' | 'connection' {
  return timedOut || error.code === 'ETIMEDOUT' ? 'timeout' : 'connection';
}

async function runLoad(command: LoadCommand): Promise<LoadResult> {
  stopRequested = false;
  const agent = new http.Agent({ keepAlive: true, maxSockets: command.concurrency });
  const result: LoadResult = {
    type: 'result',
    id: command.id,
    sent: 0,
    answered: 0,
    latenciesMs: [],
    statuses: {},
    errors: { '5xx': 0, '429': 0, '4xx': 0, connection: 0, timeout: 0 },
    elapsedMs: 0,
  };
  const started = performance.now();
  const deadline = started + command.durationMs;
  const once = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      let timedOut = false;
      const req = http.get(command.url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          result.answered++;
          result.statuses[status] = (result.statuses[status] ?? 0) + 1;
          if (status === 429) result.errors['429']++;
          else if (status >= 500) result.errors['5xx']++;
          else if (status >= 400) result.errors['4xx']++;
          else result.latenciesMs.push(performance.now() - t0);
          resolve();
        });
        res.on('error', (error) => {
          result.errors[errorKind(error, timedOut)]++;
          resolve();
        });
      });
      req.setTimeout(command.timeoutMs, () => {
        timedOut = true;
        req.destroy(new Error('request timed out'));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        result.errors[errorKind(error, timedOut)]++;
        resolve();
      });
    });
  const progress = setInterval(
    () => send({ type: 'progress', id: command.id, sent: result.sent, done: doneCount(result) }),
    PROGRESS_EVERY_MS,
  );
  const client = async () => {
    while (!stopRequested && result.sent < command.requests && performance.now() < deadline) {
      result.sent++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, client));
  clearInterval(progress);
  result.elapsedMs = performance.now() - started;
  agent.destroy();
  return result;
}

function doneCount(result: LoadResult): number {
  const e = result.errors;
  return result.answered + e.connection + e.timeout;
}

process.on('message', (message: LoadCommand | { type: 'stop' }) => {
  if (message.type === 'stop') {
    stopRequested = true;
    return;
  }
  void runLoad(message).then(send);
});
// The parent going away ends the load generator.
process.on('disconnect', () => process.exit(0));
