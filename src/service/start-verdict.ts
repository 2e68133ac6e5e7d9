// Whether a starting set of services is ready, still coming up, or has failed to start. Pure.
import type { DependencyCondition, InstanceInfo, ServiceInfo } from '../types.js';
import { describeExit } from './incarnation.js';
import { failed } from './restart-policy.js';

export type StartVerdict =
  | { kind: 'ready' }
  | { kind: 'waiting'; summary: string }
  | { kind: 'failed'; service: string; message: string };

/** Whether a dependency's instances have reached a dependsOn condition. */
export function dependencyMet(instances: readonly InstanceInfo[], condition: DependencyCondition): boolean {
  if (instances.length === 0) return false;
  switch (condition) {
    case 'started':
      return instances.every((i) => i.state !== 'waiting' && (i.id !== null || i.lastExit !== null));
    case 'ready':
      return instances.every((i) => i.ready);
    case 'completed':
      return instances.every((i) => i.state === 'exited' && i.lastExit !== null && !failed(i.lastExit));
  }
}

/**
 * Why a dependency will not reach a dependsOn condition by itself (an instance exited and its policy does
 * not restart it, or it waits on such a dependency itself), or null. A manual restart may still bring it.
 */
export function dependencyBlocked(
  name: string,
  instances: readonly InstanceInfo[],
  condition: DependencyCondition,
): string | null {
  const waitingOn = instances.find((i) => i.blocked);
  if (waitingOn) return `its dependency ${name} will not start (${waitingOn.blocked})`;
  const ended = instances.find(
    (i) =>
      i.state === 'exited' &&
      i.lastExit !== null &&
      (condition === 'ready' || (condition === 'completed' && failed(i.lastExit))),
  );
  return ended?.lastExit ? `its dependency ${name} ${describeExit(ended.lastExit)}` : null;
}

/** What doneStarting reads of an instance: an InstanceInfo, or an instance of `msup status --json`. */
export interface StartFacts {
  ready: boolean;
  state: string;
  lastExit: { code: number | null; signal: string | null; unhealthy?: boolean } | null;
}

/**
 * Whether an instance is where a start leaves it: ready, or a one-shot run that ended well (exited 0, and
 * its policy does not restart it: a migration). What start(), status and the CLI's summaries count alike.
 */
export function doneStarting(i: StartFacts): boolean {
  return i.ready || (i.state === 'exited' && i.lastExit !== null && !failed(i.lastExit));
}

/** A done instance that is not ready: it ended, and stays ended. */
export function completed(i: StartFacts): boolean {
  return !i.ready && doneStarting(i);
}

export function startVerdict(services: readonly ServiceInfo[]): StartVerdict {
  for (const service of services) {
    const blocked = service.instances.find((i) => i.blocked)?.blocked;
    if (blocked) {
      return {
        kind: 'failed',
        service: service.name,
        message: `service "${service.name}" will not start: ${blocked}`,
      };
    }
    const broken = service.instances.find(
      (i) => i.state === 'crash-loop' || (i.state === 'exited' && i.lastExit !== null && failed(i.lastExit)),
    );
    if (!broken?.lastExit) continue;
    const tail = service.stderrTail.slice(-10);
    const why = broken.state === 'crash-loop' ? ` after ${broken.restarts + 1} attempts (crash loop)` : '';
    const stderr = tail.length ? `\nlast stderr:\n${tail.map((l) => `  ${l}`).join('\n')}` : '';
    return {
      kind: 'failed',
      service: service.name,
      message: `service "${service.name}" could not start: ${service.name}#${broken.index} ${describeExit(broken.lastExit)}${why}${stderr}`,
    };
  }
  if (services.every((s) => s.instances.every(doneStarting))) return { kind: 'ready' };
  const summary = services
    .map((s) => {
      const ready = `${s.instances.filter((i) => i.ready).length}/${s.instances.length} ready`;
      // Why the first instance that is not ready is not: what its readiness probe saw last.
      const stuck = s.instances.find((i) => !doneStarting(i) && i.lastProbe && !i.lastProbe.ok);
      const why = stuck?.lastProbe ? `; ${s.name}#${stuck.index}: ${stuck.lastProbe.detail}` : '';
      return `${s.name} (${ready}${why})`;
    })
    .join(', ');
  return { kind: 'waiting', summary };
}
