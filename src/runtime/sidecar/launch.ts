// One instance of the sidecar runtime: its ports, its sidecar process group (launched first, so the
// app's calls out find it listening), then the app through the inner runtime, composed into one
// RunningInstance that ends when either part ends and stops the app first, then the sidecar.
import type { InstanceSpec, RunningInstance, Runtime, RuntimeHost } from '../../contract.js';
import type { PeerBreakers } from '../../sidecar/breaker.js';
import type { InitMessage, ToSidecar } from '../../sidecar/messages.js';
import { isFromSidecar } from '../../sidecar/messages.js';
import type { SeriesSnapshot } from '../../sidecar/metrics.js';
import type { ExitInfo, OutputLine } from '../../types.js';
import type { GroupWaiter } from '../proc.js';
import { launchGroup } from '../process.js';
import type { Identities } from './identities.js';
import { spiffeId, trustPrefix } from './identity.js';
import { breakerStatus, sidecarFamilies, summarizeSeries } from './report.js';

/** An environment without the Node options meant for the app. */
function withoutNodeOptions(env: Readonly<Record<string, string>>): Record<string, string> {
  const { NODE_OPTIONS: _, ...rest } = env;
  return rest;
}

/**
 * V8 set to favour memory over speed: a young generation of 1 MB semi-spaces (the default, up to 16 MB
 * each, let a sidecar grow to 77 to 92 MB under load) and the old generation kept closer to its live
 * size. About 3 MB less than `--max-semi-space-size=1` alone after a load, at no CPU cost measured
 * (BENCHMARKS.md, the sidecar's memory under load). Most of what remains is not V8's: Node's own pages.
 */
export const SIDECAR_NODE_FLAGS = ['--optimize-for-size'];

/** How long a sidecar may take to listen before the launch fails. */
export const SIDECAR_START_MS = 15_000;
const HOST = '127.0.0.1';

export interface LiveSidecar {
  /** Its ingress, `127.0.0.1:port`: the instance's endpoint as the directory lists it. */
  readonly key: string;
  readonly service: string;
  readonly index: number;
  readonly mode: 'http' | 'tcp';
  readonly ports: { ingress: number; mesh: number; outbound: Record<string, number> };
  /** The peer services it has an outbound listener for. */
  readonly peers: ReadonlySet<string>;
  readonly pid: number | null;
  readonly app: RunningInstance;
  readonly instance: RunningInstance;
  /** Its latest metrics. */
  series: SeriesSnapshot[];
  /** Its circuit breakers' latest states, per peer (empty without a breaker). */
  breakers: PeerBreakers[];
  send(message: ToSidecar): void;
}

export interface LaunchOptions {
  host: RuntimeHost;
  spec: InstanceSpec;
  inner: Runtime;
  identities: Identities;
  waiter: GroupWaiter;
  program: string;
  metricsIntervalMs: number;
  onOutput(line: OutputLine): void;
  added(live: LiveSidecar): void;
  removed(live: LiveSidecar): void;
  /** The counters of `live`'s slot for /metrics (summed over its sidecars, ended ones too). */
  counted(live: LiveSidecar): { series: SeriesSnapshot[]; breakers: PeerBreakers[] };
  /** The index of the instance of `peer` a sidecar calls at `address`, or null when unknown. */
  instanceAt(peer: string, address: string): number | null;
}

/** The peers the sidecar stands in for: those whose variable holds an HTTP address. */
function httpPeers(spec: InstanceSpec): [string, string][] {
  return Object.entries(spec.peers ?? {}).filter(([, variable]) => spec.env[variable]?.startsWith('http://'));
}

function describe(exit: ExitInfo): string {
  if (exit.error) return `could not start: ${exit.error}`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

export async function launchSidecar(o: LaunchOptions): Promise<LiveSidecar> {
  const { host, spec } = o;
  const { service, index } = spec;
  const taken: number[] = [];
  const port = async () => {
    const p = await host.ports.allocate();
    taken.push(p);
    return p;
  };
  const release = () => {
    for (const p of taken.splice(0)) host.ports.release(p);
  };
  let group: ReturnType<typeof launchGroup> | undefined;
  let unsubscribe = () => {};
  try {
    const peers = httpPeers(spec);
    const ports = { ingress: await port(), mesh: await port(), outbound: {} as Record<string, number> };
    for (const [peer] of peers) ports.outbound[peer] = await port();
    let send: (message: ToSidecar) => void = () => {};
    const subscription = await o.identities.subscribe(
      service.name,
      service.sidecar.certLifetimeMs,
      (issued) => send({ type: 'cert', tls: { ca: o.identities.caPem, cert: issued.cert, key: issued.key } }),
    );
    unsubscribe = subscription.unsubscribe;
    const stderr: string[] = [];
    const launched = launchGroup(
      host,
      { runtime: 'sidecar', service: service.name, index },
      { shell: false, argv: [process.execPath, ...SIDECAR_NODE_FLAGS, o.program] },
      // Not the app's NODE_OPTIONS: its --inspect would take the app's debugger port, its --require load the
      // app's tracing code into the sidecar, its heap flags override the sidecar's own.
      { cwd: service.cwd, env: withoutNodeOptions(spec.env), waiter: o.waiter, ipc: true },
      (stream, line) => {
        if (stream === 'stderr') stderr.splice(0, Math.max(0, stderr.length - 9), line);
        o.onOutput({ service: service.name, index, stream, line, source: 'sidecar' });
      },
    );
    group = launched;
    const channel = launched.channel;
    if (!channel) throw new Error('the sidecar has no IPC channel');
    send = (message) => void channel.send(message);
    let series: SeriesSnapshot[] = [];
    let breakers: PeerBreakers[] = [];
    let live: LiveSidecar | undefined;
    let listening: () => void = () => {};
    const isListening = new Promise<void>((resolve) => {
      listening = resolve;
    });
    channel.onMessage((message) => {
      if (!isFromSidecar(message)) return;
      if (message.type === 'listening') listening();
      else if (message.type === 'metrics') {
        series = message.series;
        breakers = message.breakers;
        if (live) {
          live.series = message.series;
          live.breakers = message.breakers;
        }
      }
    });
    const s = service.sidecar;
    const init: InitMessage = {
      type: 'init',
      service: service.name,
      index,
      identity: spiffeId(host.project, service.name),
      trustPrefix: trustPrefix(host.project),
      mode: service.balancing.mode,
      host: HOST,
      ports: { ingress: ports.ingress, mesh: ports.mesh },
      outbound: peers.map(([peer]) => ({
        peer,
        port: ports.outbound[peer] as number,
        identity: spiffeId(host.project, peer),
      })),
      settings: {
        retries: s.retries,
        retryBudget: s.retryBudget,
        minRetriesPerSecond: s.minRetriesPerSecond,
        timeoutMs: s.timeoutMs,
        tryTimeoutMs: s.tryTimeoutMs,
        breaker: s.breaker,
        balancing: s.balancing,
        mtls: s.mtls,
        bodyTimeoutMs: s.bodyTimeoutMs,
      },
      tls: { ca: o.identities.caPem, cert: subscription.issued.cert, key: subscription.issued.key },
      metricsIntervalMs: o.metricsIntervalMs,
    };
    send(init);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      isListening.then(() => 'listening' as const),
      launched.exited.then((exit) => `the sidecar ${describe(exit)}`),
      new Promise<string>((resolve) => {
        timer = setTimeout(
          () => resolve(`the sidecar did not listen within ${SIDECAR_START_MS}ms`),
          SIDECAR_START_MS,
        );
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'listening')
      throw new Error(stderr.length ? `${outcome}: ${stderr.join(' | ')}` : outcome);

    const env = { ...spec.env };
    for (const [peer, variable] of peers) env[variable] = `http://${HOST}:${ports.outbound[peer]}`;
    const app = await o.inner.start({ ...spec, env }, o.onOutput);
    if (app.endpoint) send({ type: 'app', endpoint: app.endpoint });

    let stopping: Promise<void> | undefined;
    const sidecar = launched;
    const stop = (timeoutMs: number) => {
      stopping ??= (async () => {
        // The app first: while it finishes its requests, its calls out still have their sidecar.
        await app.stop(timeoutMs);
        await sidecar.stop(timeoutMs);
        unsubscribe();
        release();
        if (live) o.removed(live);
      })();
      return stopping;
    };
    const exited = Promise.race([
      app.exited,
      sidecar.exited.then((exit): ExitInfo => ({ ...exit, reason: `its sidecar ${describe(exit)}` })),
    ]);
    const instance: RunningInstance = {
      id: app.id,
      pid: app.pid,
      endpoint: { host: HOST, port: ports.ingress, sidecar: true },
      startedAt: app.startedAt,
      exited,
      stop,
      kill: () => {
        app.kill();
        sidecar.kill();
      },
      exec: (command, options) => app.exec(command, options),
      details: () => ({
        sidecar: {
          pid: sidecar.pid,
          identity: init.identity,
          mtls: s.mtls,
          ports: {
            ingress: ports.ingress,
            mesh: ports.mesh,
            app: app.endpoint?.port ?? null,
            outbound: ports.outbound,
          },
        },
        metrics: summarizeSeries(live?.series ?? series),
        // Only with a breaker (sidecar.breaker: false has none to show).
        ...(s.breaker ? { breakers: breakerStatus(live?.breakers ?? breakers, o.instanceAt) } : {}),
      }),
      // Summed over the slot's sidecars, so that the counters go on across restarts.
      metrics: () => {
        const counted = live ? o.counted(live) : { series, breakers };
        return sidecarFamilies(counted.series, counted.breakers);
      },
    };
    live = {
      key: `${HOST}:${ports.ingress}`,
      service: service.name,
      index,
      mode: service.balancing.mode,
      ports,
      peers: new Set(peers.map(([peer]) => peer)),
      pid: sidecar.pid,
      app,
      instance,
      series,
      breakers,
      send,
    };
    o.added(live);
    return live;
  } catch (error) {
    await group?.stop(1000);
    unsubscribe();
    release();
    throw error;
  }
}
