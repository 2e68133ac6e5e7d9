// What `msup export` writes, by target: Compose, Kubernetes (plain, or with Linkerd or Istio), AWS SAM and
// Knative. Pure.

/** `linkerd` and `istio`: the Kubernetes manifests with the mesh's annotations and resources added. */
export type ExportTarget = 'compose' | 'k8s' | 'sam' | 'knative' | 'linkerd' | 'istio';

export const EXPORT_TARGETS: readonly ExportTarget[] = [
  'compose',
  'k8s',
  'sam',
  'knative',
  'linkerd',
  'istio',
];

/** The file each target writes into the output folder. */
export const EXPORT_FILES: Record<ExportTarget, string> = {
  compose: 'compose.yaml',
  k8s: 'k8s.yaml',
  sam: 'template.yaml',
  knative: 'knative.yaml',
  linkerd: 'linkerd.yaml',
  istio: 'istio.yaml',
};
