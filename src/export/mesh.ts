// What the Linkerd and Istio exports share: both are the Kubernetes export plus the mesh's own parts,
// found by the names the Kubernetes export gives; durations in one unit, as both meshes read them. Pure.
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { kubernetesName } from './kubernetes.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain data
export type Manifest = Record<string, any>;

/** `250ms`, `10s`, `90s`: a duration in one unit (Linkerd's annotations take no `1m30s`). */
export function meshDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The config key of a sidecar setting, as warnings name it. */
export const sidecarKey = (service: ResolvedService, key: string) =>
  `services.${service.name}.sidecar.${key}`;

/** The Kubernetes export's manifest of `kind` for a service (its Deployment, its Service). */
export function manifestOf(
  manifests: readonly Manifest[],
  kind: string,
  service: ResolvedService,
): Manifest | undefined {
  const name = kubernetesName(service.name);
  return manifests.find((m) => m.kind === kind && m.metadata?.name === name);
}

/**
 * The shared front's Gateway and the services its routes reach whose mTLS is strict. The Gateway
 * implementation's pods are the cluster's, not the export's, so nothing here puts them in the mesh: a
 * strict service refuses their calls in plain text.
 */
export function strictBehindGateway(
  config: ResolvedConfig,
  manifests: readonly Manifest[],
): { gateway: string; services: ResolvedService[] } | null {
  const gateway = manifests.find((m) => m.kind === 'Gateway');
  if (!gateway) return null;
  const backends = new Set<string>(
    manifests
      .filter((m) => m.kind === 'HTTPRoute')
      .flatMap((r: Manifest) => r.spec.rules.flatMap((rule: Manifest) => rule.backendRefs))
      .map((ref: Manifest) => ref.name),
  );
  const services = config.services.filter(
    (s) => s.sidecar.mtls === 'strict' && backends.has(kubernetesName(s.name)),
  );
  return { gateway: gateway.metadata.name, services };
}
