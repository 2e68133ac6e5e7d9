// The dashboard's actions (rolling restart, scale, stop) in terms of the supervisor's public methods, as
// the control socket's handler does: the request body checked first, then the call. Pure but for the call.
import { MAX_INSTANCES } from '../limits.js';

export type Action =
  | { action: 'restart'; service?: string }
  | { action: 'scale'; service: string; count: number }
  | { action: 'stop' };

/** What the admin listener needs of the supervisor for its actions. */
export interface ActionTarget {
  restart(service?: string): Promise<unknown>;
  scale(service: string, count: number): Promise<void>;
  stop(): Promise<void>;
  instances(service: string): unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `POST /api/<action>` with its JSON body → an Action, or why not. */
export function parseAction(name: string, body: unknown): Action | { problem: string } {
  if (!isObject(body)) return { problem: 'expected a JSON object as the request body' };
  const service = body.service;
  if (service !== undefined && (typeof service !== 'string' || service === '')) {
    return { problem: `"service": expected a service name, got ${JSON.stringify(service)}` };
  }
  switch (name) {
    case 'restart':
      return service === undefined ? { action: 'restart' } : { action: 'restart', service };
    case 'scale': {
      const count = body.count;
      if (service === undefined) return { problem: '"service": scale needs a service name' };
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) {
        return {
          problem: `"count": expected a whole number from 0 to ${MAX_INSTANCES}, got ${JSON.stringify(count)}`,
        };
      }
      return { action: 'scale', service, count };
    }
    case 'stop':
      return { action: 'stop' };
    default:
      return { problem: `no action "${name}" (actions: restart, scale, stop)` };
  }
}

/**
 * Runs an action. A restart or scale resolves when it is done; a stop resolves at once (msup then stops,
 * and the admin listener with it).
 */
export async function runAction(target: ActionTarget, action: Action): Promise<unknown> {
  switch (action.action) {
    case 'restart':
      return target.restart(action.service);
    case 'scale':
      target.instances(action.service); // an unknown name fails before anything changes
      await target.scale(action.service, action.count);
      return { service: action.service, instances: action.count };
    case 'stop':
      void target.stop();
      return { stopping: true };
  }
}
