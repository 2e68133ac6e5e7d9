// The sidecar program msup runs beside each instance (`node dist/sidecar/main.js`), as its own process
// group: it takes its settings over the IPC channel, opens its outbound listeners, says so, opens its
// inbound ones once the app accepts connections, and sends its metrics. It ends when msup goes away.
import { randomInt } from 'node:crypto';
import { Inbound } from './inbound.js';
import { type FromSidecar, type InitMessage, isToSidecar, type ToSidecar } from './messages.js';
import { GoldenMetrics } from './metrics.js';
import { Outbound } from './outbound.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

if (!process.send) {
  err('msup sidecar: run by msup only (it needs an IPC channel)');
  process.exit(2);
}
const say = (message: FromSidecar) => process.send?.(message);
const metrics = new GoldenMetrics(Date.now);
let inbound: Inbound | undefined;
const outbound = new Map<string, Outbound>();
const early: ToSidecar[] = [];
let initialised = false;
let seq = 0;
let sent = '';

/** Sends the metrics when they changed since the last time; `done` once they are on their way. */
function sendMetrics(done?: () => void): void {
  const series = metrics.snapshot();
  // Their states too: an ejection that ends (open to half-open) is news without a request.
  const breakers = [...outbound.values()].flatMap((o) => o.breakers() ?? []);
  const text = JSON.stringify([series, breakers]);
  if (text === sent || !process.connected) {
    done?.();
    return;
  }
  sent = text;
  process.send?.({ type: 'metrics', seq: ++seq, series, breakers } satisfies FromSidecar, undefined, {}, () =>
    done?.(),
  );
}

async function init(message: InitMessage): Promise<void> {
  const { settings, host } = message;
  inbound = new Inbound({
    host,
    ingressPort: message.ports.ingress,
    meshPort: message.ports.mesh,
    mode: message.mode,
    mtls: settings.mtls,
    bodyTimeoutMs: settings.bodyTimeoutMs,
    trustPrefix: message.trustPrefix,
    tls: message.tls,
    metrics,
    log: (line) => out(line),
  });
  for (const { peer, port, identity } of message.outbound) {
    const listener = new Outbound({
      peer,
      host,
      port,
      identity,
      settings,
      bodyTimeoutMs: settings.bodyTimeoutMs,
      tls: message.tls,
      metrics,
      now: Date.now,
      random: () => randomInt(0, 2 ** 31) / 2 ** 31,
      log: (line) => out(line),
    });
    await listener.listen();
    outbound.set(peer, listener);
  }
  if (message.outbound.length > 0)
    out(`outbound ${message.outbound.map((o) => `${o.peer} → ${host}:${o.port}`).join(', ')}`);
  setInterval(() => sendMetrics(), message.metricsIntervalMs).unref();
  initialised = true;
  say({ type: 'listening' });
  for (const m of early.splice(0)) handle(m);
}

function handle(message: ToSidecar): void {
  if (message.type === 'init') {
    init(message).catch((error: Error) => {
      err(`msup sidecar: could not start: ${error.message}`);
      process.exit(1);
    });
    return;
  }
  if (!initialised) {
    early.push(message);
    return;
  }
  switch (message.type) {
    case 'app':
      inbound?.open(message.endpoint).catch((error: Error) => {
        err(`msup sidecar: could not listen: ${error.message}`);
        process.exit(1);
      });
      return;
    case 'peers':
      outbound.get(message.peer)?.setEndpoints(message.endpoints);
      return;
    case 'cert':
      inbound?.rotate(message.tls);
      for (const listener of outbound.values()) listener.rotate(message.tls);
      return;
  }
}

process.on('message', (message) => {
  if (isToSidecar(message)) handle(message);
});
// msup is gone (stopped, crashed or killed): a sidecar never outlives it.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  inbound?.close();
  for (const listener of outbound.values()) listener.close();
  // The last counts first: msup adds them up across the instance's restarts (its counters go on).
  // (Should the channel not take them within a second: exit all the same.)
  setTimeout(() => process.exit(0), 1000);
  if (initialised) sendMetrics(() => process.exit(0));
  else process.exit(0);
});
