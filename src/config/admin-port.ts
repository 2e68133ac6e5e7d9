// Which ports the admin listener cannot take: the config's `admin.port` (validate.ts) and `msup start
// --admin PORT` (the supervisor) are checked alike. Pure, and apart from validate.ts, whose schema (zod) the
// supervisor's isolate never loads.

const DEFAULT_HOST = '127.0.0.1';
const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);
const named = (host: string) => (host.toLowerCase() === 'localhost' ? DEFAULT_HOST : host.toLowerCase());

/** Whether two listeners' addresses can clash on one port: the same address, or either one every address. */
function sameAddresses(a: string, b: string): boolean {
  return WILDCARDS.has(a) || WILDCARDS.has(b) || named(a) === named(b);
}

/**
 * Why the admin listener cannot have `port`: a service's front or the shared front has it already (msup
 * would fail to bind it, as if someone else held it), or undefined. 0 (a free port) is always fine.
 * `services`: each service's name and front port. Pure; also checks `msup start --admin PORT`.
 */
export function adminPortProblem(
  port: number,
  services: Iterable<readonly [string, unknown]>,
  proxyPort: unknown,
  adminHost: unknown = DEFAULT_HOST,
  frontHost: string = DEFAULT_HOST,
): string | undefined {
  if (port === 0) return undefined;
  // On another address the same port is free (admin on ::1, the fronts on 127.0.0.1).
  if (!sameAddresses(typeof adminHost === 'string' ? adminHost : DEFAULT_HOST, frontHost)) return undefined;
  for (const [name, front] of services) {
    if (front === port) return `port ${port} is already the front port of service "${name}"`;
  }
  if (proxyPort === port) return `port ${port} is already the shared front's port (proxy.port)`;
  return undefined;
}
