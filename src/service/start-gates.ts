// Waiting at start: for a service's dependencies before it launches, and for every instance to be
// ready (or for the start to fail) before start() resolves. Driven by instance events.
import { MsupError } from '../errors.js';
import type { DependencyCondition, InstanceInfo, ServiceInfo } from '../types.js';
import { dependencyBlocked, dependencyMet, startVerdict } from './start-verdict.js';

export interface InstanceEvents {
  on(event: 'instance', listener: () => void): unknown;
  off(event: 'instance', listener: () => void): unknown;
}

/** Resolves once every instance is ready; rejects with MSUP_START_FAILED or MSUP_START_TIMEOUT; `abort` ends it early. */
export function waitUntilStarted(
  events: InstanceEvents,
  services: () => ServiceInfo[],
  timeoutMs: number,
): { done: Promise<void>; abort(error: Error): void } {
  let abort: (error: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      events.off('instance', check);
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      const verdict = startVerdict(services());
      if (verdict.kind === 'ready') finish();
      else if (verdict.kind === 'failed') {
        finish(new MsupError('MSUP_START_FAILED', verdict.message, { service: verdict.service }));
      }
    };
    const timer = setTimeout(() => {
      const verdict = startVerdict(services());
      const waiting = verdict.kind === 'waiting' ? verdict.summary : verdict.kind;
      finish(
        new MsupError('MSUP_START_TIMEOUT', `not every instance was ready after ${timeoutMs}ms: ${waiting}`),
      );
    }, timeoutMs);
    abort = finish;
    events.on('instance', check);
    check();
  });
  return { done, abort: (error) => abort(error) };
}

/**
 * Calls `launch` once every dependency has reached its condition (at once without any), unless cancelled
 * first; tells `blocked` why it waits when a dependency will not get there by itself. `dependsOn` is read at every check (a reload may change it); the function returned checks again
 * now (after such a reload, when no instance event may come).
 */
export function whenDependenciesMet(
  events: InstanceEvents,
  dependsOn: () => Readonly<Record<string, DependencyCondition>>,
  lookup: (name: string) => { started: boolean; instances(): InstanceInfo[] } | undefined,
  cancelled: () => boolean,
  launch: () => void,
  /** Called at every check that waits on: why a dependency will not get there by itself, or null. */
  blocked: (reason: string | null) => void = () => {},
): () => void {
  let done = false;
  const check = () => {
    if (done) return;
    if (cancelled()) {
      done = true;
      events.off('instance', check);
      return;
    }
    const met = Object.entries(dependsOn()).every(([name, condition]) => {
      const other = lookup(name);
      return other?.started === true && dependencyMet(other.instances(), condition);
    });
    if (!met) {
      let reason: string | null = null;
      for (const [name, condition] of Object.entries(dependsOn())) {
        const other = lookup(name);
        reason = other ? dependencyBlocked(name, other.instances(), condition) : null;
        if (reason) break;
      }
      blocked(reason);
      return;
    }
    blocked(null);
    done = true;
    events.off('instance', check);
    launch();
  };
  events.on('instance', check);
  check();
  return check;
}
