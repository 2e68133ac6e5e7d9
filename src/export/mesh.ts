// What the Linkerd and Istio exports share: both are the Kubernetes export plus the mesh's own parts,
// found by the names the Kubernetes export gives; durations in one unit, as both meshes read them. Pure.
import type { ResolvedService } from '../types.js';
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
