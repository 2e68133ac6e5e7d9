// Applying a new, valid config to a running supervisor: what diffConfigs found, in an order that keeps
// serving. Removed services stop; the shared front moves (before added services bind, so one can take
// its old port); added services bind and start; balancers take new settings in place; counts scale;
// other changes roll. The supervisor loads and validates the file and runs one reload at a time.
import { diffConfigs } from './config/diff.js';
import type { Fronts } from './proxy/fronts.js';
import type { Service } from './service/service.js';
import type { LogLevel, ReloadResult, ResolvedConfig, ResolvedService } from './types.js';

/** What a reload needs of the supervisor. */
export interface ReloadHost {
  /** True once stop() began: the reload stops applying. */
  stopping(): boolean;
  readonly fronts: Fronts;
  service(name: string): Service | undefined;
  /** Sets the running config (what `sup.config` answers). */
  setConfig(config: ResolvedConfig): void;
  /**
   * Stops a service for good: its front closes, it is gone from the API. `replaced`: a new service of
   * that name starts in its place (a new front port or mode).
   */
  removeService(name: string, replaced: boolean): Promise<void>;
  /** Creates and starts a service whose front is bound (after its dependsOn). */
  startService(config: ResolvedService): void;
  syncWatchers(config: ResolvedConfig): Promise<void>;
  /** A service still waiting for its dependencies checks them again (their settings changed). */
  recheckDependencies(name: string): void;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function emptyReloadResult(): ReloadResult {
  return {
    applied: false,
    added: [],
    removed: [],
    restarted: [],
    scaled: [],
    rebalanced: [],
    sharedFront: null,
  };
}

export async function applyConfig(
  host: ReloadHost,
  current: ResolvedConfig,
  next: ResolvedConfig,
): Promise<ReloadResult> {
  const result = emptyReloadResult();
  const diff = diffConfigs(current, next);
  // What runs from now on: the new config, less any added service that could not start, and with the
  // old shared front if the new one could not be bound (so the next reload tries again).
  let proxy = next.proxy;
  const running = () =>
    Object.freeze({
      ...next,
      proxy,
      services: Object.freeze(next.services.filter((s) => host.service(s.name) !== undefined)),
    });
  host.setConfig(running());
  for (const name of diff.removed) {
    if (host.stopping()) return result;
    host.log('info', 'service removed from the config: stopping', { service: name });
    await host.removeService(
      name,
      diff.added.some((s) => s.name === name),
    );
    result.removed.push(name);
  }
  if (diff.shared && !host.stopping()) {
    const before = host.fronts.sharedUrl();
    try {
      result.sharedFront = await host.fronts.applyShared(next);
    } catch (error) {
      result.sharedFront = 'failed';
      proxy = current.proxy;
      const url = host.fronts.sharedUrl();
      const msg = url
        ? 'the shared front could not move; it stays where it was'
        : before
          ? 'the shared front could not move, nor go back to its old address; it is closed'
          : 'the shared front could not be opened';
      host.log('error', msg, { error: (error as Error).message, ...(url ? { url } : {}) });
    }
  }
  // Watching follows the new config before any instance of an added or changed service starts (as at
  // start): what one writes as it starts is a change. The end of the reload syncs again with what runs.
  if (!host.stopping()) await host.syncWatchers(next);
  for (const service of diff.added) {
    if (host.stopping()) return result;
    try {
      await host.fronts.bindService(service, next);
    } catch (error) {
      host.log('error', 'service added to the config could not start', {
        service: service.name,
        error: (error as Error).message,
      });
      await host.fronts.closeService(service.name);
      continue;
    }
    host.startService(service);
    result.added.push(service.name);
  }
  const config = running();
  host.setConfig(config);
  for (const service of config.services) {
    if (diff.added.includes(service)) continue;
    // `config`, not `next`: a front that could not move keeps its headersTimeout for every listener.
    host.fronts.configureService(service, config);
    if (diff.balancing.includes(service.name) && host.fronts.of(service.name))
      result.rebalanced.push(service.name);
  }
  // Logged as `msup scale` logs it, and listed in `scaled`, whether the count alone changed or with other
  // settings (a changed service whose count was scaled by hand goes back to the file's).
  const scale = async (target: Service, to: number) => {
    const from = target.instances().length;
    if (from !== to) host.log('info', 'scaling', { service: target.name, from, to });
    await target.scale(to);
    result.scaled.push(target.name);
  };
  for (const service of diff.scaled) {
    const target = host.service(service.name);
    if (!target || host.stopping()) continue;
    await scale(target, service.instances);
  }
  for (const service of diff.changed) {
    const target = host.service(service.name);
    if (!target || host.stopping()) continue;
    target.update(service);
    if (!target.started) {
      // Still waiting for its dependencies: it starts with the new settings, once the new ones are met.
      host.recheckDependencies(service.name);
      result.restarted.push(service.name);
      continue;
    }
    if (target.instances().length !== service.instances) await scale(target, service.instances);
    host.log('info', 'config changed: rolling restart', { service: service.name });
    // Each replacement has its new settings' startTimeout, as a first start has.
    const rollout = await target.restart({ changedOnly: true });
    if (rollout.failed && !host.stopping()) {
      host.log(
        'error',
        `rolling restart after config change failed; ${target.oldInstanceNote(rollout.failed.index)}`,
        {
          service: service.name,
          instance: rollout.failed.index,
          reason: rollout.failed.reason,
        },
      );
    }
    result.restarted.push(service.name);
  }
  if (host.stopping()) return result;
  await host.syncWatchers(running());
  result.applied = true;
  host.log('info', 'config reloaded', { ...result });
  return result;
}
