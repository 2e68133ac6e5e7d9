// Schema check of a raw config: every problem at once, each with its dotted path. Pure.
import type { ConfigIssue } from '../errors.js';
import { adminPortProblem } from './admin-port.js';
import { dependencyIssues, dependencyNames } from './dependencies.js';
import { formatDuration, parseDuration } from './duration.js';
import { peerVariable } from './peer-variable.js';
import { DEFAULTS } from './resolve.js';
import { configSchema, type ValidConfig } from './schema.js';
import { FUNCTION_MEMORY, parseMemory } from './size.js';

export type ValidationResult = { ok: true; value: ValidConfig } | { ok: false; issues: ConfigIssue[] };

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `completed` waits for a dependency to exit for good: one that restarts always never does. */
function completedChecks(services: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, service] of Object.entries(services)) {
    const deps = (service as { dependsOn?: unknown } | null)?.dependsOn;
    if (!deps || typeof deps !== 'object' || Array.isArray(deps)) continue;
    for (const [dep, condition] of Object.entries(deps)) {
      if (condition !== 'completed') continue;
      const restart = (services[dep] as { restart?: unknown } | null | undefined)?.restart;
      const policy =
        typeof restart === 'string' ? restart : (restart as { policy?: unknown } | undefined)?.policy;
      if (services[dep] !== undefined && (policy === undefined || policy === 'always')) {
        issues.push({
          path: `services.${name}.dependsOn.${dep}`,
          message: `"completed" waits for ${dep} to exit for good, but its restart policy is "always": give ${dep} restart: 'on-failure' or 'never'`,
        });
      }
    }
  }
  return issues;
}

/** Checks across services, run on the raw input so they report even when other fields are wrong. */
function crossChecks(input: unknown): ConfigIssue[] {
  const services = (input as { services?: unknown } | null)?.services;
  if (!services || typeof services !== 'object' || Array.isArray(services)) return [];
  const issues: ConfigIssue[] = [];
  const byPort = new Map<number, string>();
  const byVariable = new Map<string, string>();
  const graph = new Map<string, string[]>();
  for (const [name, service] of Object.entries(services)) {
    // Services with a port get MSUP_<NAME>_URL: `user-db` and `user_db` would both set MSUP_USER_DB_URL,
    // and one would hide the other from its callers.
    if ((service as { port?: unknown } | null)?.port !== undefined) {
      const variable = peerVariable(name);
      const sameVariable = byVariable.get(variable);
      if (sameVariable === undefined) byVariable.set(variable, name);
      else
        issues.push({
          path: `services.${name}`,
          message: `its address would be ${variable}, as service "${sameVariable}"'s is: rename one of them`,
        });
    }
    const raw = service as { dependsOn?: unknown; health?: unknown; readiness?: unknown } | null;
    graph.set(name, dependencyNames(raw?.dependsOn));
    if (raw?.health !== undefined && raw.readiness !== undefined) {
      issues.push({
        path: `services.${name}.readiness`,
        message:
          '"health" already sets readiness (and liveness): use "health", or "readiness" with "liveness"',
      });
    }
    if (!SERVICE_NAME.test(name)) {
      issues.push({
        path: `services.${name}`,
        message: 'a service name uses letters, digits, "-", "_" and "." and starts with a letter or digit',
      });
    }
    const port = (service as { port?: unknown } | null)?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port === 0) continue;
    const other = byPort.get(port);
    if (other === undefined) byPort.set(port, name);
    else
      issues.push({
        path: `services.${name}.port`,
        message: `port ${port} is already the front port of service "${other}"`,
      });
  }
  issues.push(...dependencyIssues(graph));
  issues.push(...completedChecks(services as Record<string, unknown>));
  issues.push(...startTimeoutChecks(services as Record<string, unknown>));
  return issues;
}

/**
 * The first readiness probe comes `initialDelay` after the launch, and an instance not ready `startTimeout`
 * after it is stopped: a delay as long restarts it for ever, without a probe ever made.
 */
function startTimeoutChecks(services: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, service] of Object.entries(services)) {
    const raw = service as { health?: unknown; readiness?: unknown; startTimeout?: unknown } | null;
    // The readiness probe is `readiness`, else `health` (both together is an error of its own).
    const key = raw?.readiness !== undefined ? 'readiness' : raw?.health !== undefined ? 'health' : null;
    if (!raw || !key) continue;
    const delay = parseDuration((raw[key] as { initialDelay?: unknown } | null)?.initialDelay);
    const given = raw.startTimeout !== undefined;
    const startTimeout = given ? parseDuration(raw.startTimeout) : DEFAULTS.startTimeoutMs;
    // A duration that is no duration is reported by the schema.
    if (delay === undefined || startTimeout === undefined || delay < startTimeout) continue;
    issues.push({
      path: `services.${name}.${key}.initialDelay`,
      message: `the first readiness probe would come after ${formatDuration(delay)}, but an instance not ready within startTimeout (${formatDuration(startTimeout)}${given ? '' : ', the default'}) is stopped first (and restarted, as its restart policy says), so it would never be ready: make initialDelay shorter, or startTimeout longer`,
    });
  }
  return issues;
}

/**
 * A NUL byte cannot be passed to a process (in an argument, a path or the environment), so no string
 * of the config may hold one, in a key or a value; an environment variable's name has no `=` either.
 */
function stringChecks(input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const walk = (value: unknown, at: string[], depth: number): void => {
    if (typeof value === 'string') {
      if (value.includes('\0'))
        issues.push({ path: at.join('.') || '(root)', message: 'contains a NUL byte' });
      return;
    }
    if (typeof value !== 'object' || value === null || depth > 32) return;
    for (const [key, inner] of Object.entries(value)) {
      const shown = key.includes('\0') ? JSON.stringify(key).slice(1, -1) : key;
      if (key.includes('\0'))
        issues.push({ path: [...at, shown].join('.'), message: 'the name contains a NUL byte' });
      walk(inner, [...at, shown], depth + 1);
    }
  };
  walk(input, [], 0);
  const services = (input as { services?: unknown } | null)?.services;
  if (services && typeof services === 'object') {
    for (const [name, service] of Object.entries(services)) {
      const env = (service as { env?: unknown } | null)?.env;
      if (!env || typeof env !== 'object') continue;
      for (const key of Object.keys(env)) {
        if (key === '' || key.includes('=')) {
          issues.push({
            path: `services.${name}.env.${key}`,
            message: 'an environment variable name cannot be empty or contain "="',
          });
        }
      }
    }
  }
  return issues;
}

// --- Load balancing and the shared front (issue 3) ---
type Raw = Record<string, unknown> | null | undefined;

/** Routes name HTTP services that exist; the shared front has a port of its own; weights fit the instances. */
function proxyChecks(input: unknown): ConfigIssue[] {
  const services = (input as { services?: unknown } | null)?.services;
  if (!services || typeof services !== 'object' || Array.isArray(services)) return [];
  const table = services as Record<string, Raw>;
  const issues: ConfigIssue[] = [];
  for (const [name, service] of Object.entries(table)) {
    const weights = service?.weights;
    const instances = typeof service?.instances === 'number' ? service.instances : 1;
    if (Array.isArray(weights) && weights.length > instances) {
      issues.push({
        path: `services.${name}.weights`,
        message: `${weights.length} weights for ${instances} instance${instances === 1 ? '' : 's'}`,
      });
    }
  }
  const front = (input as { proxy?: Raw } | null)?.proxy;
  if (!front || typeof front !== 'object') return issues;
  const routes = Array.isArray(front.routes) ? (front.routes as Raw[]) : [];
  if (routes.length > 0 && front.port === undefined) {
    issues.push({ path: 'proxy.port', message: 'the shared front needs a port when it has routes' });
  }
  const frontPort = front.port;
  if (typeof frontPort === 'number' && frontPort !== 0) {
    for (const [name, service] of Object.entries(table)) {
      if (service?.port === frontPort) {
        issues.push({
          path: 'proxy.port',
          message: `port ${frontPort} is already the front port of service "${name}"`,
        });
      }
    }
  }
  const seen = new Set<string>();
  routes.forEach((route, i) => {
    const name = route?.service;
    if (typeof name !== 'string') return;
    const target = table[name];
    if (!Object.hasOwn(table, name)) {
      const known = Object.keys(table).join(', ');
      issues.push({
        path: `proxy.routes.${i}.service`,
        message: `no service "${name}" (services: ${known})`,
      });
    } else if (target?.mode === 'tcp') {
      issues.push({
        path: `proxy.routes.${i}.service`,
        message: `service "${name}" is in tcp mode; the shared front routes HTTP only`,
      });
    }
    const key = `${String(route?.host ?? '*').toLowerCase()} ${String(route?.path ?? '/').replace(/\/$/, '') || '/'}`;
    if (seen.has(key))
      issues.push({ path: `proxy.routes.${i}`, message: 'the same host and path as an earlier route' });
    seen.add(key);
  });
  return issues;
}
// --- end of load balancing ---

/** The admin listener's port is not one of the fronts' ports. */
function adminChecks(input: unknown): ConfigIssue[] {
  const raw = input as { admin?: Raw; proxy?: Raw; services?: unknown } | null;
  const port = raw?.admin?.port;
  if (typeof port !== 'number' || !Number.isInteger(port)) return [];
  const services =
    raw?.services && typeof raw.services === 'object' && !Array.isArray(raw.services)
      ? Object.entries(raw.services as Record<string, Raw>).map(([name, s]) => [name, s?.port] as const)
      : [];
  const problem = adminPortProblem(port, services, raw?.proxy?.port, raw?.admin?.host);
  return problem ? [{ path: 'admin.port', message: problem }] : [];
}

// --- Runtimes (issue 8) ---
/** Which runtime a service names itself (`runtime: 'x'` or `runtime: { x: ... }`), if any. */
function ownRuntime(service: Raw): string | undefined {
  const own = service?.runtime;
  if (typeof own === 'string') return own;
  if (own && typeof own === 'object' && !Array.isArray(own)) return Object.keys(own)[0];
  return undefined;
}

/**
 * Settings given twice (in `runtime` and beside it) would leave one silently unused; a service runs a
 * `command` or a `handler`; a handler and a function answer HTTP, so they need a port or a route.
 */
function runtimeChecks(input: unknown, override: string | undefined): ConfigIssue[] {
  const services = (input as { services?: unknown } | null)?.services;
  const configRuntime = (input as { runtime?: unknown } | null)?.runtime;
  if (!services || typeof services !== 'object' || Array.isArray(services)) return [];
  const routes = (input as { proxy?: { routes?: unknown } } | null)?.proxy?.routes;
  const routed = new Set(
    (Array.isArray(routes) ? routes : []).map((r) => (r as { service?: unknown } | null)?.service),
  );
  const issues: ConfigIssue[] = [];
  for (const [name, service] of Object.entries(services as Record<string, Raw>)) {
    const own = service?.runtime;
    for (const key of ['container', 'function', 'sidecar'] as const) {
      if (own && typeof own === 'object' && key in own && service?.[key] !== undefined) {
        issues.push({
          path: `services.${name}.${key}`,
          message: `${key} settings are given twice: in "runtime: { ${key} }" and in "${key}"; keep one`,
        });
      }
    }
    if (!service || typeof service !== 'object') continue;
    const hasCommand = service.command !== undefined;
    const hasHandler = service.handler !== undefined;
    if (hasCommand && hasHandler) {
      issues.push({
        path: `services.${name}.handler`,
        message: 'a service runs a "command" or a "handler", not both',
      });
    } else if (!hasCommand && !hasHandler) {
      issues.push({
        path: `services.${name}.command`,
        message: "expected a command to run, or a handler such as 'fns/hello.handler'",
      });
    }
    const http = service.port !== undefined || routed.has(name);
    const isFunction = ownRuntime(service) === 'function';
    if ((hasHandler || isFunction) && !http) {
      issues.push({
        path: `services.${name}.port`,
        message: `${hasHandler ? 'a handler' : 'a function'} is invoked over HTTP: give the service a "port" or a route in proxy.routes`,
      });
    }
    if ((hasHandler || isFunction) && service.mode === 'tcp') {
      issues.push({
        path: `services.${name}.mode`,
        message: `${hasHandler ? 'a handler' : 'a function'} answers HTTP requests: mode "tcp" does not apply`,
      });
    }
    const nested = own && typeof own === 'object' && 'function' in own;
    const fn = (nested ? own.function : service.function) as Raw;
    const fnPath = `services.${name}.${nested ? 'runtime.function' : 'function'}`;
    if (fn?.bootstrap !== undefined && !hasHandler) {
      issues.push({
        path: `${fnPath}.bootstrap`,
        message: 'a bootstrap runs a handler: this service has no "handler"',
      });
    }
    // A function's memory is its environments' memory size, in Lambda's range: below it Node alone (about
    // 40 MB resident) outgrew a 32 MB size, and every environment was ended as out of memory after each
    // request. A container's memory may be smaller; this applies where the service runs as a function.
    const mb = parseMemory(service.memory);
    // A function too where the config's `runtime` or `msup start --runtime function` makes it one (an
    // HTTP service without a runtime of its own; the option wins over its own), as resolve.ts decides.
    const wider = override ?? (ownRuntime(service) === undefined ? configRuntime : undefined);
    const madeFunction = wider === 'function' && http && service.mode !== 'tcp';
    if (
      (isFunction || fn !== undefined || madeFunction) &&
      mb !== undefined &&
      (mb < FUNCTION_MEMORY.min || mb > FUNCTION_MEMORY.max)
    ) {
      issues.push({
        path: `services.${name}.memory`,
        message: `a function's memory is ${FUNCTION_MEMORY.min} to ${FUNCTION_MEMORY.max} MB (Lambda's range), got ${mb} MB`,
      });
    }
    const min = fn?.minInstances;
    const max = fn?.maxInstances;
    if (typeof min === 'number' && min > (typeof max === 'number' ? max : 10)) {
      issues.push({
        path: `${fnPath}.minInstances`,
        message: `${min} environments kept warm, but maxInstances is ${typeof max === 'number' ? max : '10 (the default)'}`,
      });
    }
  }
  return issues;
}
// --- end of runtimes ---

export function validateConfig(
  input: unknown,
  options: { runtime?: string | undefined } = {},
): ValidationResult {
  const result = configSchema.safeParse(input);
  const issues = result.success
    ? []
    : result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.') || '(root)',
        message: issue.message,
      }));
  issues.push(...crossChecks(input));
  issues.push(...proxyChecks(input));
  issues.push(...adminChecks(input));
  issues.push(...runtimeChecks(input, options.runtime));
  issues.push(...stringChecks(input));
  if (result.success && issues.length === 0) return { ok: true, value: result.data };
  return { ok: false, issues };
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n');
}
