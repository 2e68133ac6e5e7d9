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
}

export function diffConfigs(current: ResolvedConfig, next: ResolvedConfig): ConfigDiff {
  const before = new Map(current.services.map((s) => [s.name, s]));
  const after = new Map(next.services.map((s) => [s.name, s]));
  const diff: ConfigDiff = { added: [], removed: [], changed: [], scaled: [] };
  for (const name of before.keys()) if (!after.has(name)) diff.removed.push(name);
  for (const service of next.services) {
    const old = before.get(service.name);
    if (!old) {
      diff.added.push(service);
    } else if (old.port !== service.port) {
      // A new front port is a new front: the service is replaced as a whole.
      diff.removed.push(service.name);
      diff.added.push(service);
    } else if (!isDeepStrictEqual({ ...old, instances: 0 }, { ...service, instances: 0 })) {
      diff.changed.push(service);
    } else if (old.instances !== service.instances) {
      diff.scaled.push(service);
    }
  }
  return diff;
}
