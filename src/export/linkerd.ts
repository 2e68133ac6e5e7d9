// `msup export linkerd`: the Kubernetes export with Linkerd's annotations: each pod template injected
// (linkerd.io/inject) with its default inbound policy (mTLS strict or not), and each Service with
// retries, timeouts and failure accrual (the circuit breaker), as Linkerd 2.16+ reads them from a
// Service. Lossy mappings are warnings that name the key. Pure.
import type { ResolvedConfig } from '../types.js';
import type { Warnings } from './common.js';
import { type Manifest, manifestOf, meshDuration, sidecarKey, strictBehindGateway } from './mesh.js';

/** What msup retries (for idempotent requests), as a Linkerd status list. */
export const LINKERD_RETRY_STATUSES = '502-504';

export function withLinkerd(config: ResolvedConfig, manifests: Manifest[], warnings: Warnings): Manifest[] {
  for (const service of config.services) {
    const s = service.sidecar;
    const template = manifestOf(manifests, 'Deployment', service)?.spec.template;
    if (template) {
      template.metadata.annotations = {
        ...template.metadata.annotations,
        'linkerd.io/inject': 'enabled',
        'config.linkerd.io/default-inbound-policy':
          s.mtls === 'strict' ? 'all-authenticated' : 'all-unauthenticated',
      };
    }
    warnings.add(
      sidecarKey(service, 'certLifetime'),
      `Linkerd issues workload certificates for the lifetime set at install (identity.issuer.issuanceLifetime, 24h by default), not ${meshDuration(s.certLifetimeMs)} per service`,
    );
    if (s.balancing === 'least-request')
      warnings.add(
        sidecarKey(service, 'balancing'),
        'Linkerd always balances by peak EWMA latency: no least-request',
      );
    const target = manifestOf(manifests, 'Service', service);
    if (!target) continue;
    const annotations: Record<string, string> = {};
    if (s.retries > 0) {
      annotations['retry.linkerd.io/http'] = LINKERD_RETRY_STATUSES;
      annotations['retry.linkerd.io/limit'] = String(s.retries);
      if (s.tryTimeoutMs > 0) annotations['retry.linkerd.io/timeout'] = meshDuration(s.tryTimeoutMs);
      warnings.add(
        sidecarKey(service, 'retryBudget'),
        "Linkerd's retry annotations have no budget (a ServiceProfile's retryBudget would turn them off): retries are bounded by retry.linkerd.io/limit only",
      );
    } else if (s.tryTimeoutMs > 0) {
      warnings.add(sidecarKey(service, 'tryTimeout'), 'without retries Linkerd has no per-try timeout');
    }
    if (s.timeoutMs > 0) annotations['timeout.linkerd.io/request'] = meshDuration(s.timeoutMs);
    if (s.breaker) {
      annotations['balancer.linkerd.io/failure-accrual'] = 'consecutive';
      annotations['balancer.linkerd.io/failure-accrual-consecutive-max-failures'] = String(
        s.breaker.failures,
      );
      annotations['balancer.linkerd.io/failure-accrual-consecutive-min-penalty'] = meshDuration(
        s.breaker.ejectionMs,
      );
      annotations['balancer.linkerd.io/failure-accrual-consecutive-max-penalty'] = meshDuration(
        s.breaker.maxEjectionMs,
      );
      // msup's ejections have no jitter.
      annotations['balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio'] = '0';
    }
    if (Object.keys(annotations).length > 0)
      target.metadata.annotations = { ...target.metadata.annotations, ...annotations };
  }
  const behind = strictBehindGateway(config, manifests);
  for (const service of behind?.services ?? [])
    warnings.add(
      sidecarKey(service, 'mtls'),
      `"strict" (all-authenticated): the pods of the Gateway "${behind?.gateway}" are outside the mesh unless injected, and ${service.name} refuses their calls: inject them (linkerd.io/inject: enabled on the Gateway implementation's Deployment or namespace), or set mtls: 'permissive'`,
    );
  return manifests;
}
