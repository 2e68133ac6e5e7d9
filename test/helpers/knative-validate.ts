// Validates Knative Services three ways: the @kubernetes-models/knative validator (Knative's OpenAPI schema),
// the strict check for unknown keys (TypeScript's excess-property check against the model's type), and
// what neither checks (the autoscaling annotations' names and values, one container on one port).
import { Service } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { typedValueProblems } from './k8s-validate.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed document, walked by hand
type Manifest = Record<string, any>;

/** The annotations of the autoscaler (knative.dev/docs/serving/autoscaling), and what each takes. */
const ANNOTATIONS: Record<string, RegExp> = {
  'autoscaling.knative.dev/min-scale': /^\d+$/,
  'autoscaling.knative.dev/max-scale': /^\d+$/,
  'autoscaling.knative.dev/target': /^\d+(\.\d+)?$/,
  'autoscaling.knative.dev/window': /^\d+(s|m|h)$/,
};

function ownProblems(m: Manifest): string[] {
  const at = `Service/${m.metadata?.name}`;
  const problems: string[] = [];
  if (m.apiVersion !== 'serving.knative.dev/v1') problems.push(`${at}: apiVersion ${m.apiVersion}`);
  const annotations: Record<string, string> = m.spec?.template?.metadata?.annotations ?? {};
  for (const [key, value] of Object.entries(annotations)) {
    const rule = ANNOTATIONS[key];
    if (!rule) problems.push(`${at}: unknown annotation ${key}`);
    else if (!rule.test(value)) problems.push(`${at}: ${key} is "${value}"`);
  }
  const min = Number(annotations['autoscaling.knative.dev/min-scale'] ?? 0);
  const max = Number(annotations['autoscaling.knative.dev/max-scale'] ?? 0);
  if (max > 0 && min > max) problems.push(`${at}: min-scale ${min} is above max-scale ${max}`);
  const containers = m.spec?.template?.spec?.containers ?? [];
  if (containers.length !== 1) problems.push(`${at}: ${containers.length} containers (Knative serves one)`);
  if ((containers[0]?.ports ?? []).length > 1) problems.push(`${at}: more than one port`);
  return problems;
}

/** Every problem found; empty when the Services are valid. */
export function validateKnative(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const m of manifests) {
    try {
      new Service(m).validate();
    } catch (error) {
      problems.push(`Service/${m.metadata?.name}: ${(error as Error).message}`);
    }
    problems.push(...ownProblems(m));
  }
  problems.push(
    ...typedValueProblems(
      manifests.map((value) => ({
        value,
        type: 'IService',
        from: '@kubernetes-models/knative/serving.knative.dev/v1/Service',
      })),
    ),
  );
  return problems;
}
