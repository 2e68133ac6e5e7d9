// Which ports the admin listener cannot take: the config's `admin.port` (validate.ts) and `msup start
// --admin PORT` (the supervisor) are checked alike. Pure, and apart from validate.ts, whose schema (zod) the
// supervisor's isolate never loads.

/**
 * Why the admin listener cannot have `port`: a service's front or the shared front has it already (msup
 * would fail to bind it, as if someone else held it), or undefined. 0 (a free port) is always fine.
 * `services`: each service's name and front port. Pure; also checks `msup start --admin PORT`.
 */
export function adminPortProblem(
  port: number,
  services: Iterable<readonly [string, unknown]>,
  proxyPort: unknown,
): string | undefined {
  if (port === 0) return undefined;
  for (const [name, front] of services) {
    if (front === port) return `port ${port} is already the front port of service "${name}"`;
  }
  if (proxyPort === port) return `port ${port} is already the shared front's port (proxy.port)`;
  return undefined;
}
