// What changed between two configs, service by service, so a reload restarts only what it must. Pure.
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedConfig, ResolvedService } from '../types.js';

export interface ConfigDiff {
  added: ResolvedService[];
  removed: string[];
  /** Settings changed (other than the instance count): a rolling restart with the new settings. */
  changed: ResolvedService[];
  /** Only the instance count changed. */
  scaled: ResolvedService[];
  /** Balancing settings changed (not the mode): applied to the running balancer. */
  balancing: string[];
  /** The shared front (top-level `proxy`) changed: its routes, timeout, port or host. */
  shared: boolean;
}

/** A service gets a balancer when it has a front port or a route of the shared front. */
function hasBalancer(service: ResolvedService, config: ResolvedConfig): boolean {
  return service.port !== null || config.proxy.routes.some((r) => r.service === service.name);
}

/** What needs new processes: everything but the count, the watch settings (watchers resync) and balancing. */
function processSettings(service: ResolvedService) {
  const { instances: _instances, watch: _watch, balancing: _balancing, ...rest } = service;
  return rest;
}

export function diffConfigs(current: ResolvedConfig, next: ResolvedConfig): ConfigDiff {
  const before = new Map(current.services.map((s) => [s.name, s]));
  const after = new Map(next.services.map((s) => [s.name, s]));
  const diff: ConfigDiff = {
    added: [],
    removed: [],
    changed: [],
    scaled: [],
    balancing: [],
    shared: !isDeepStrictEqual(current.proxy, next.proxy),
  };
  for (const name of before.keys()) if (!after.has(name)) diff.removed.push(name);
  for (const service of next.services) {
    const old = before.get(service.name);
    if (!old) {
      diff.added.push(service);
    } else if (
      old.port !== service.port ||
      old.balancing.mode !== service.balancing.mode ||
      hasBalancer(old, current) !== hasBalancer(service, next)
    ) {
      // A new front port or mode is a new listener (and a new route may need a balancer): the service
      // is replaced as a whole.
      diff.removed.push(service.name);
      diff.added.push(service);
    } else {
      if (!isDeepStrictEqual(processSettings(old), processSettings(service))) diff.changed.push(service);
      else if (old.instances !== service.instances) diff.scaled.push(service);
      if (!isDeepStrictEqual(old.balancing, service.balancing)) diff.balancing.push(service.name);
    }
  }
  return diff;
}
