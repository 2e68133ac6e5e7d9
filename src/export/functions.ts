// What the serverless exports (SAM and Knative) share: which services can be functions (HTTP services; a
// worker cannot), the routes of the shared front to each, and the warnings for settings they cannot carry. Pure.
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { isReachable, type Warnings, watchNotExported } from './common.js';

/** Every service that can run as a function (it answers HTTP); each other one named in a warning. */
export function functionServices(
  config: ResolvedConfig,
  warnings: Warnings,
  target: string,
): ResolvedService[] {
  return config.services.filter((s) => {
    if (isReachable(s, config) && s.balancing.mode === 'http') return true;
    warnings.add(
      `services.${s.name}`,
      `not exported: a ${target} function is invoked over HTTP, and this service has no port or route (or is in tcp mode)`,
    );
    return false;
  });
}

/** The shared front's routes to a service. */
export function routesTo(config: ResolvedConfig, service: ResolvedService) {
  return config.proxy.routes.filter((r) => r.service === service.name);
}

/** Warnings for what neither serverless platform has: watching, restart settings, dependsOn, instances. */
export function serverlessWarnings(service: ResolvedService, warnings: Warnings, target: string): void {
  const key = `services.${service.name}`;
  watchNotExported(service, warnings, target);
  if (Object.keys(service.dependsOn).length > 0)
    warnings.add(`${key}.dependsOn`, `${target} starts functions on demand, in no order: not exported`);
  if (service.instances !== 1)
    warnings.add(
      `${key}.instances`,
      `${target} scales on demand: function.minInstances and maxInstances are exported instead`,
    );
  if (service.envFiles.length > 0)
    warnings.add(`${key}.env_file`, 'not exported (it may hold secrets): add its variables by hand');
}
