// The sidecar runtime: a decorator over an inner runtime (processes by default). Each instance is the
// app, started by the inner runtime on a private port, plus msup's sidecar program beside it as its own
// guarded process group. The sidecar owns the instance's endpoint (its ingress), takes mTLS from peers
// on its mesh port, and is the app's way out to the other services (MSUP_<PEER>_URL).
import path from 'node:path';
import type {
  InstanceSpec,
  Reaped,
  Remembered,
  RunningInstance,
  Runtime,
  RuntimeHost,
  RuntimePlugin,
  Usage,
} from '../../contract.js';
import { packageFile } from '../../package-root.js';
import type { PeerBreakers } from '../../sidecar/breaker.js';
import type { PeerEndpoint } from '../../sidecar/messages.js';
import type { SeriesSnapshot } from '../../sidecar/metrics.js';
import type { OutputLine, ResolvedService } from '../../types.js';
import { GroupWaiter, groupUsage } from '../proc.js';
import { processRuntime, reapGroups } from '../process.js';
import { Identities } from './identities.js';
import { type LiveSidecar, launchSidecar } from './launch.js';
import { prometheusText, sumEjections, sumSeries } from './report.js';

/** How often a sidecar sends its metrics (when they changed). */
export const METRICS_INTERVAL_MS = 1000;

/** The built sidecar program (dist/sidecar/main.js), under the test runner too. */
export function sidecarProgram(): string {
  return packageFile('dist/sidecar/main.js');
}

/**
 * What the sidecars of an instance slot that ended counted: its counters on /metrics go on across its
 * restarts (a new sidecar starts at 0), as the proxy's do.
 */
interface Ended {
  series: SeriesSnapshot[];
  ejections: Map<string, number>;
  /**
   * The last one that ended, added in only when the next one ends: its last metrics, sent as it stops,
   * may come after its exit.
   */
  last: LiveSidecar | undefined;
}

/** A remembered entry of the inner runtime, kept under the sidecar runtime's name. */
interface InnerEntry {
  inner: string;
  entry: Record<string, unknown>;
}

const isInner = (data: Record<string, unknown>): data is Record<string, unknown> & InnerEntry =>
  typeof data.inner === 'string' && typeof data.entry === 'object' && data.entry !== null;

function innerHost(host: RuntimeHost): RuntimeHost {
  return {
    ...host,
    remember: (entry) =>
      host.remember({
        runtime: 'sidecar',
        service: entry.service,
        index: entry.index,
        data: { inner: entry.runtime, entry: entry.data },
      }),
  };
}

export class SidecarRuntime implements Runtime {
  readonly name = 'sidecar';
  readonly #host: RuntimeHost;
  readonly #inner: Runtime;
  readonly #identities: Identities;
  readonly #waiter = new GroupWaiter();
  /** Every sidecar of this run, by its ingress (`127.0.0.1:port`), for the peers' endpoints. */
  readonly #live = new Map<string, LiveSidecar>();
  readonly #byInstance = new WeakMap<RunningInstance, LiveSidecar>();
  /** By slot (`["web",0]`). */
  readonly #ended = new Map<string, Ended>();
  readonly #unsubscribe: () => void;

  constructor(host: RuntimeHost, inner: Runtime, identities: Identities) {
    this.#host = host;
    this.#inner = inner;
    this.#identities = identities;
    this.#unsubscribe = host.directory.onChange((service) => this.#pushPeers(service));
  }

  check(service: ResolvedService): Promise<void> {
    return this.#inner.check?.(service) ?? Promise.resolve();
  }

  prepare(service: ResolvedService): Promise<void> {
    return this.#inner.prepare?.(service) ?? Promise.resolve();
  }

  /** Where the sidecars of `service`'s peers are: a sidecar's mesh port (mTLS), else the instance itself. */
  peerEndpoints(service: string): PeerEndpoint[] {
    return this.#host.directory.endpoints(service).map((endpoint) => {
      const sidecar = this.#live.get(`${endpoint.host}:${endpoint.port}`);
      return sidecar && sidecar.mode === 'http'
        ? { host: endpoint.host, port: sidecar.ports.mesh, tls: true }
        : { host: endpoint.host, port: endpoint.port, tls: false };
    });
  }

  /** The index of `service`'s instance whose sidecar's mesh port (or whose own endpoint) is `address`. */
  #instanceAt(service: string, address: string): number | null {
    for (const live of this.#live.values()) {
      if (live.service !== service) continue;
      const host = live.key.slice(0, live.key.lastIndexOf(':'));
      if (live.key === address || `${host}:${live.ports.mesh}` === address) return live.index;
    }
    return null;
  }

  #pushPeers(service: string): void {
    let endpoints: PeerEndpoint[] | undefined;
    for (const live of this.#live.values()) {
      if (!live.peers.has(service)) continue;
      endpoints ??= this.peerEndpoints(service);
      live.send({ type: 'peers', peer: service, endpoints });
    }
  }

  async start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): Promise<RunningInstance> {
    const live = await launchSidecar({
      host: this.#host,
      spec,
      inner: this.#inner,
      identities: this.#identities,
      waiter: this.#waiter,
      program: sidecarProgram(),
      metricsIntervalMs: METRICS_INTERVAL_MS,
      onOutput,
      added: (sidecar) => {
        // Last in the map (a port used before goes to the end): the order sidecars started in.
        this.#live.delete(sidecar.key);
        this.#live.set(sidecar.key, sidecar);
        for (const peer of sidecar.peers)
          sidecar.send({ type: 'peers', peer, endpoints: this.peerEndpoints(peer) });
      },
      removed: (sidecar) => {
        if (this.#live.get(sidecar.key) === sidecar) this.#live.delete(sidecar.key);
        this.#end(sidecar);
      },
      counted: (sidecar) => this.#counted(sidecar),
      instanceAt: (peer, address) => this.#instanceAt(peer, address),
    });
    this.#byInstance.set(live.instance, live);
    return live.instance;
  }

  #end(sidecar: LiveSidecar): void {
    const slot = JSON.stringify([sidecar.service, sidecar.index]);
    const ended = this.#ended.get(slot) ?? { series: [], ejections: new Map(), last: undefined };
    if (ended.last) {
      ended.series = sumSeries([ended.series, ended.last.series]);
      for (const [peer, n] of sumEjections([ended.last.breakers]))
        ended.ejections.set(peer, (ended.ejections.get(peer) ?? 0) + n);
    }
    ended.last = sidecar;
    this.#ended.set(slot, ended);
  }

  /**
   * The counters of `sidecar`'s slot: those of its sidecars that ended, plus those running (two during a
   * rolling restart), added up; the breakers' states are the newest sidecar's.
   */
  #counted(sidecar: LiveSidecar): { series: SeriesSnapshot[]; breakers: PeerBreakers[] } {
    const same = (l: LiveSidecar) => l.service === sidecar.service && l.index === sidecar.index;
    const running = [...this.#live.values()].filter(same);
    const ended = this.#ended.get(JSON.stringify([sidecar.service, sidecar.index]));
    const parts = ended?.last ? [ended.last, ...running] : running;
    const ejections = sumEjections(parts.map((l) => l.breakers));
    for (const [peer, n] of ended?.ejections ?? []) ejections.set(peer, (ejections.get(peer) ?? 0) + n);
    const newest = running[running.length - 1] ?? sidecar;
    return {
      series: sumSeries([ended?.series ?? [], ...parts.map((l) => l.series)]),
      breakers: newest.breakers.map((b) => ({ ...b, ejections: ejections.get(b.peer) ?? b.ejections })),
    };
  }

  async usage(instances: readonly RunningInstance[]): Promise<Map<string, Usage>> {
    const parts = instances
      .map((i) => this.#byInstance.get(i))
      .filter((l): l is LiveSidecar => l !== undefined);
    const [apps, sidecars] = await Promise.all([
      this.#inner.usage(parts.map((p) => p.app)),
      groupUsage(parts.map((p) => p.pid).filter((p): p is number => p !== null)),
    ]);
    const usage = new Map<string, Usage>();
    for (const part of parts) {
      const app = apps.get(part.app.id);
      const sidecar = part.pid === null ? undefined : sidecars.get(part.pid);
      if (!app && !sidecar) continue;
      usage.set(part.instance.id, {
        cpuMs: (app?.cpuMs ?? 0) + (sidecar?.cpuMs ?? 0),
        rssBytes: (app?.rssBytes ?? 0) + (sidecar?.rssBytes ?? 0),
      });
    }
    return usage;
  }

  /**
   * The golden metrics of every instance's newest sidecar as Prometheus text (for a /metrics endpoint).
   * During a rolling restart the old and the new sidecar of a slot both run, under the same labels: the
   * new one's series are the slot's.
   */
  metricsText(): string {
    return prometheusText(
      [...this.#live.values()].map((l) => ({ service: l.service, index: l.index, ...this.#counted(l) })),
    );
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    this.#identities.close();
    await this.#inner.close();
  }
}

/** The sidecar runtime over `inner` (`sidecar(process)` by default; `sidecar(container)` works alike). */
export function sidecarRuntime(inner: RuntimePlugin = processRuntime): RuntimePlugin {
  return {
    name: 'sidecar',
    ...(inner.adjust ? { adjust: inner.adjust } : {}),
    // The app runs on the inner runtime: what it does not apply, the sidecar runtime does not either.
    ...(inner.unused ? { unused: inner.unused } : {}),
    async open(host) {
      // The CA's X.509 library (and the polyfill it needs) loads only when a sidecar runs.
      const { MeshCa } = await import('./ca.js');
      const log = host.log.bind(host);
      const ca = await MeshCa.open(path.join(host.stateDir, 'mesh'), host.project, { log });
      const identities = new Identities(ca, log);
      return new SidecarRuntime(host, await inner.open(innerHost(host)), identities);
    },
    async reap(entries, host) {
      const mine: Remembered[] = [];
      const theirs: Remembered[] = [];
      for (const entry of entries) {
        if (isInner(entry.data) && entry.data.inner === inner.name)
          theirs.push({
            runtime: inner.name,
            service: entry.service,
            index: entry.index,
            data: entry.data.entry,
          });
        else if (!isInner(entry.data)) mine.push(entry);
      }
      const reaped: Reaped[] = [
        ...(await inner.reap(theirs, innerHost(host))),
        ...(await reapGroups(mine)).map((r) => ({ ...r, what: `sidecar ${r.what}` })),
      ];
      return reaped;
    },
  };
}
