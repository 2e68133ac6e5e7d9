// The config's schema (zod): shapes and value checks, each with a message that says what was expected and what came.
import { z } from 'zod';
import { MAX_DURATION_MS, MAX_INSTANCES } from '../limits.js';
import { ALLOWED_HOST_EXPECTED, isAllowedHost } from './allowed-hosts.js';
import { durationMs, parseDuration } from './duration.js';
import { nearest } from './nearest.js';
import { RUNTIME_NAMES } from './runtime-names.js';
import { parseMemory } from './size.js';

export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return String(value);
  }
}

function check<T>(test: (v: unknown) => boolean, expected: string) {
  return z.custom<T>(test, { error: (issue) => `expected ${expected}, got ${show(issue.input)}` });
}

const positiveInt = check<number>((v) => Number.isInteger(v) && (v as number) > 0, 'a positive integer');
const instances = z.custom<number>(
  (v) => Number.isInteger(v) && (v as number) > 0 && (v as number) <= MAX_INSTANCES,
  {
    error: (issue) =>
      Number.isInteger(issue.input) && (issue.input as number) > MAX_INSTANCES
        ? `expected at most ${MAX_INSTANCES} instances, got ${show(issue.input)}`
        : `expected a positive integer, got ${show(issue.input)}`,
  },
);
const port = check<number>(
  (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535,
  'a port number from 0 to 65535',
);
const duration = z.custom<number | string>(
  (v) => {
    const ms = durationMs(v);
    return ms !== undefined && ms <= MAX_DURATION_MS;
  },
  {
    error: (issue) =>
      durationMs(issue.input) === undefined
        ? `expected a duration such as 500, '500ms', '5s' or '2m', got ${show(issue.input)}`
        : `expected a duration of at most 24 days (${MAX_DURATION_MS} ms), got ${show(issue.input)}`,
  },
);
/** A duration where 0 cannot mean "none" (a probe's interval and timeout, startTimeout, a function's timeouts). */
const positiveDuration = z.custom<number | string>(
  (v) => {
    const ms = durationMs(v);
    return ms !== undefined && ms > 0 && ms <= MAX_DURATION_MS;
  },
  {
    error: (issue) => {
      const ms = durationMs(issue.input);
      if (ms === undefined)
        return `expected a duration such as 500, '500ms', '5s' or '2m', got ${show(issue.input)}`;
      return ms > 0
        ? `expected a duration of at most 24 days (${MAX_DURATION_MS} ms), got ${show(issue.input)}`
        : `expected a duration above 0 (0 has no meaning here), got ${show(issue.input)}`;
    },
  },
);
const nonEmptyString = check<string>((v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string');
const command = check<string | string[]>(
  (v) =>
    (typeof v === 'string' && v.trim() !== '') ||
    (Array.isArray(v) && v.length > 0 && v.every((part) => typeof part === 'string') && v[0] !== ''),
  'a non-empty string (run by the shell) or a non-empty array of strings (run directly)',
);
const envValue = check<string | number | boolean>(
  (v) => ['string', 'number', 'boolean'].includes(typeof v),
  'a string, number or boolean',
);
const policy = check<'always' | 'on-failure' | 'never'>(
  (v) => v === 'always' || v === 'on-failure' || v === 'never',
  '"always", "on-failure" or "never"',
);
const multiplier = check<number>((v) => typeof v === 'number' && v >= 1, 'a number of at least 1');
const isPathList = (v: unknown) =>
  Array.isArray(v) && v.every((item) => typeof item === 'string' && item.trim() !== '');
const envFile = check<string | string[]>(
  (v) => (typeof v === 'string' && v.trim() !== '') || isPathList(v),
  'a file path or an array of file paths',
);
const watch = check<boolean | string[]>(
  (v) => typeof v === 'boolean' || isPathList(v),
  'true, false or an array of paths or globs',
);
const pathList = check<string[]>(isPathList, 'an array of paths or globs');

const condition = check<'started' | 'ready' | 'completed'>(
  (v) => v === 'started' || v === 'ready' || v === 'completed',
  '"started", "ready" or "completed"',
);
// ['db'] is short for { db: 'ready' }.
const dependsOn = z.preprocess(
  (v) =>
    Array.isArray(v) && v.every((name) => typeof name === 'string')
      ? Object.fromEntries(v.map((name) => [name, 'ready']))
      : v,
  z.record(z.string(), condition, {
    error: (issue) =>
      `expected an array of service names or an object of conditions, got ${show(issue.input)}`,
  }),
);

function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  // `unknown key "instaces" (did you mean "instances"?)`: the nearest known key of this object.
  const unknown = (key: string) => {
    const near = nearest(key, known);
    return near === undefined ? `"${key}"` : `"${key}" (did you mean "${near}"?)`;
  };
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown key ${issue.keys.map(unknown).join(', ')}`;
      if (issue.code === 'invalid_type') return `expected an object, got ${show(issue.input)}`;
      return undefined;
    },
  });
}

const probe = strict({
  // What Node sends as a request path: printable, no spaces (it throws on anything else).
  http: z
    .custom<string>((v) => typeof v === 'string' && /^\/[\u0021-\u00ff]*$/.test(v), {
      error: (issue) =>
        typeof issue.input === 'string' && issue.input.startsWith('/')
          ? `expected a path with no spaces or control characters, got ${show(issue.input)}`
          : `expected a path starting with "/", got ${show(issue.input)}`,
    })
    .optional(),
  tcp: check<true>((v) => v === true, 'true').optional(),
  exec: command.optional(),
  interval: positiveDuration.optional(),
  timeout: positiveDuration.optional(),
  failureThreshold: positiveInt.optional(),
  successThreshold: positiveInt.optional(),
  initialDelay: duration.optional(),
}).superRefine((value, ctx) => {
  const kinds = (['http', 'tcp', 'exec'] as const).filter((k) => value[k] !== undefined);
  if (kinds.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message:
        kinds.length === 0
          ? 'expected one of "http", "tcp" or "exec"'
          : `expected only one of "http", "tcp" or "exec", got ${kinds.join(' and ')}`,
    });
  }
});

const restartObject = strict({
  policy: policy.optional(),
  initialDelay: duration.optional(),
  maxDelay: duration.optional(),
  multiplier: multiplier.optional(),
  resetAfter: duration.optional(),
  crashLoopAfter: positiveInt.optional(),
});

const restart = z.preprocess((v) => (typeof v === 'string' ? { policy: v } : v), restartObject);

// --- Load balancing and the shared front (issue 3) ---
const mode = check<'http' | 'tcp'>((v) => v === 'http' || v === 'tcp', '"http" or "tcp"');
const strategy = check<'round-robin' | 'least-request'>(
  (v) => v === 'round-robin' || v === 'least-request',
  '"round-robin" or "least-request"',
);
const weights = check<number[]>(
  (v) => Array.isArray(v) && v.length > 0 && v.every((w) => Number.isInteger(w) && w > 0),
  'a non-empty array of positive integers, one per instance index',
);
const count = check<number>((v) => Number.isInteger(v) && (v as number) >= 0, 'an integer of at least 0');
const routePath = check<string>(
  (v) => typeof v === 'string' && v.startsWith('/'),
  'a path prefix starting with "/"',
);
const hostName = check<string>(
  (v) => typeof v === 'string' && /^[A-Za-z0-9.-]+$/.test(v),
  'a host name such as "admin.localhost" (no port)',
);
const route = strict({
  path: routePath.optional(),
  host: hostName.optional(),
  service: nonEmptyString,
  stripPrefix: check<boolean>((v) => typeof v === 'boolean', 'true or false').optional(),
}).refine((r) => r.path !== undefined || r.host !== undefined, {
  error: 'expected "path", "host" or both',
});
const proxy = strict({
  port: port.optional(),
  host: nonEmptyString.optional(),
  routes: z
    .array(route, { error: (issue) => `expected an array of routes, got ${show(issue.input)}` })
    .optional(),
  headersTimeout: duration.optional(),
  bodyTimeout: duration.optional(),
  maxConnections: positiveInt.optional(),
});
// --- end of load balancing ---

// --- Runtimes (issue 8): how an instance runs, and each runtime's own settings ---
const runtimeName = check<(typeof RUNTIME_NAMES)[number]>(
  (v) => typeof v === 'string' && (RUNTIME_NAMES as readonly string[]).includes(v),
  `${RUNTIME_NAMES.slice(0, -1)
    .map((n) => `"${n}"`)
    .join(', ')} or "${RUNTIME_NAMES.at(-1)}"`,
);
const memory = check<number | string>(
  (v) => parseMemory(v) !== undefined,
  "a memory size in MB such as 256, '256m', '512MB' or '1g' (at least 4 MB)",
);
const cpus = check<number>(
  (v) => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1024,
  'a number of CPUs greater than 0, such as 0.5 or 2',
);
const imageName = check<string>(
  (v) => typeof v === 'string' && /^[a-z0-9][a-z0-9._\-/:@]*$/i.test(v),
  'an image reference such as "node:20-slim" or "localhost/app:1"',
);
const container = strict({
  /** Use this image instead of building one. */
  image: imageName.optional(),
  /** Which engine: 'podman' or 'docker' (default: podman, else docker with a running engine). */
  engine: check<'podman' | 'docker'>(
    (v) => v === 'podman' || v === 'docker',
    '"podman" or "docker"',
  ).optional(),
  /** How the project folder is mounted: 'ro' (default), 'rw', or false for none (the image's copy runs). */
  mount: check<'ro' | 'rw' | false>(
    (v) => v === 'ro' || v === 'rw' || v === false,
    '"ro", "rw" or false',
  ).optional(),
});
const ratio = check<number>(
  (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 10,
  'a ratio from 0 to 10, such as 0.2 (20%)',
);
const breaker = strict({
  failures: positiveInt.optional(),
  ejection: duration.optional(),
  maxEjection: duration.optional(),
});
const certLifetime = check<number | string>(
  (v) => (parseDuration(v) ?? 0) >= 2000,
  "a duration of at least 2s, such as '1h'",
);
const sidecar = strict({
  retries: count.optional(),
  retryBudget: ratio.optional(),
  minRetriesPerSecond: count.optional(),
  timeout: duration.optional(),
  tryTimeout: duration.optional(),
  // false, or the settings (their problems named by key)
  breaker: z
    .custom<z.infer<typeof breaker> | false>()
    .superRefine((v, ctx) => {
      if (v === false) return;
      const result = breaker.safeParse(v);
      if (!result.success)
        for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
    })
    .optional(),
  balancing: check<'ewma' | 'least-request'>(
    (v) => v === 'ewma' || v === 'least-request',
    '"ewma" or "least-request"',
  ).optional(),
  mtls: check<'strict' | 'permissive'>(
    (v) => v === 'strict' || v === 'permissive',
    '"strict" or "permissive"',
  ).optional(),
  certLifetime: certLifetime.optional(),
});
const positiveCount = check<number>(
  (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 1000,
  'a whole number from 1 to 1000',
);
const fn = strict({
  /** Whose defaults: 'lambda' (default) or 'knative'. */
  profile: check<'lambda' | 'knative'>(
    (v) => v === 'lambda' || v === 'knative',
    '"lambda" or "knative"',
  ).optional(),
  /** Requests one environment takes at once; 0 for no limit. */
  concurrency: count.optional(),
  target: positiveInt.optional(),
  minInstances: count.optional(),
  maxInstances: positiveCount.optional(),
  idleTimeout: duration.optional(),
  scaleToZeroGrace: duration.optional(),
  timeout: positiveDuration.optional(),
  initTimeout: positiveDuration.optional(),
  overflow: check<'throttle' | 'queue'>(
    (v) => v === 'throttle' || v === 'queue',
    '"throttle" or "queue"',
  ).optional(),
  bootstrap: command.optional(),
});
/** `runtime: 'container'`, or `runtime: { container: { ... } }`: the runtime with its settings. */
const runtimeObject = strict({
  container: container.optional(),
  function: fn.optional(),
  sidecar: sidecar.optional(),
}).superRefine((value, ctx) => {
  if (Object.keys(value).length > 1 || Object.keys(value).length === 0)
    ctx.addIssue({
      code: 'custom',
      message:
        'expected exactly one runtime, such as { container: { ... } }, { function: { ... } } or { sidecar: { ... } }',
    });
});
const runtime = z.preprocess(
  (v) => v,
  z.custom<unknown>().superRefine((v, ctx) => {
    const schema = typeof v === 'object' && v !== null && !Array.isArray(v) ? runtimeObject : runtimeName;
    const result = schema.safeParse(v);
    if (result.success) return;
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom', input: v });
  }),
) as z.ZodType<
  | (typeof RUNTIME_NAMES)[number]
  | {
      container?: z.infer<typeof container>;
      function?: z.infer<typeof fn>;
      sidecar?: z.infer<typeof sidecar>;
    }
>;
/** `'fns/hello.handler'`: a module path (no `..`), a dot, and the export's name (a dotted path for a nested one). */
export function isHandlerName(v: unknown): v is string {
  if (typeof v !== 'string' || /\s/.test(v) || v.split('/').includes('..')) return false;
  const last = v.slice(v.lastIndexOf('/') + 1);
  const dot = last.indexOf('.');
  return dot > 0 && /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(last.slice(dot + 1));
}
const handler = check<string>(
  isHandlerName,
  "a handler such as 'fns/hello.handler' (the export handler of fns/hello.js)",
);
// --- end of runtimes ---

export const serviceSchema = strict({
  command: command.optional(),
  handler: handler.optional(),
  instances: instances.optional(),
  port: port.optional(),
  env: z
    .record(z.string(), envValue, {
      error: (issue) => `expected an object of strings, got ${show(issue.input)}`,
    })
    .optional(),
  cwd: nonEmptyString.optional(),
  env_file: envFile.optional(),
  watch: watch.optional(),
  watchIgnore: pathList.optional(),
  health: probe.optional(),
  // health, Kubernetes-style (issue 3): readiness decides rotation, liveness decides restarts
  readiness: probe.optional(),
  liveness: z
    .union([probe, z.literal(false)], {
      error: (issue) => `expected a probe or false, got ${show(issue.input)}`,
    })
    .optional(),
  dependsOn: dependsOn.optional(),
  restart: restart.optional(),
  stopTimeout: duration.optional(),
  startTimeout: positiveDuration.optional(),
  drainTimeout: duration.optional(),
  // load balancing (issue 3)
  mode: mode.optional(),
  strategy: strategy.optional(),
  weights: weights.optional(),
  holdTimeout: duration.optional(),
  maxFails: count.optional(),
  failTimeout: duration.optional(),
  responseTimeout: duration.optional(),
  // runtimes (issue 8)
  runtime: runtime.optional(),
  container: container.optional(),
  function: fn.optional(),
  sidecar: sidecar.optional(),
  memory: memory.optional(),
  cpus: cpus.optional(),
  maxConnections: positiveInt.optional(),
});

export const configSchema = strict({
  runtime: runtimeName.optional(),
  services: z
    .record(z.string(), serviceSchema, {
      error: (issue) => `expected an object of services, got ${show(issue.input)}`,
    })
    .refine((services) => Object.keys(services).length > 0, { error: 'expected at least one service' }),
  proxy: proxy.optional(),
  admin: strict({
    port: port.optional(),
    host: nonEmptyString.optional(),
    allowedHosts: z
      .array(check<string>(isAllowedHost, ALLOWED_HOST_EXPECTED), {
        error: (issue) => `expected an array of host names, got ${show(issue.input)}`,
      })
      .optional(),
  }).optional(),
});

export type ValidConfig = z.infer<typeof configSchema>;
export type ValidService = z.infer<typeof serviceSchema>;

export { RUNTIME_NAMES };
