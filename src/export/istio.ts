// `msup export istio`: the Kubernetes export with Istio's parts: each pod template labelled for sidecar
// injection, and per Service a DestinationRule (balancer, connection pool, outlier detection for the
// circuit breaker, ISTIO_MUTUAL), a VirtualService (retries, timeout) and a PeerAuthentication (STRICT or
// PERMISSIVE mTLS for the service's pods). Lossy mappings are warnings that name the key. Pure.
import type { ResolvedConfig } from '../types.js';
import type { Warnings } from './common.js';
import { type Manifest, manifestOf, meshDuration, sidecarKey, strictBehindGateway } from './mesh.js';

/** The failures msup retries, in Envoy's retry_on terms (gateway-error: 502, 503, 504). */
export const ISTIO_RETRY_ON = 'gateway-error,connect-failure,refused-stream,reset';

export function withIstio(config: ResolvedConfig, manifests: Manifest[], warnings: Warnings): Manifest[] {
  const added: Manifest[] = [];
  for (const service of config.services) {
    const s = service.sidecar;
    const template = manifestOf(manifests, 'Deployment', service)?.spec.template;
    if (template)
      template.metadata.labels = { ...template.metadata.labels, 'sidecar.istio.io/inject': 'true' };
    const target = manifestOf(manifests, 'Service', service);
    if (!target || service.balancing.mode !== 'http') continue;
    const name: string = target.metadata.name;
    const port: number = target.spec.ports[0].port;
    const trafficPolicy: Manifest = {
      loadBalancer: { simple: 'LEAST_REQUEST' },
      // Envoy's closest bound on retries: how many may be in flight at once, not a share of the requests.
      connectionPool: { http: { maxRetries: Math.max(1, s.minRetriesPerSecond) } },
      tls: { mode: 'ISTIO_MUTUAL' },
    };
    if (s.balancing === 'ewma')
      warnings.add(
        sidecarKey(service, 'balancing'),
        'Istio has no EWMA balancer: LEAST_REQUEST (power of two choices)',
      );
    if (s.breaker) {
      trafficPolicy.outlierDetection = {
        consecutive5xxErrors: s.breaker.failures,
        interval: meshDuration(Math.min(s.breaker.ejectionMs, 10_000)),
        baseEjectionTime: meshDuration(s.breaker.ejectionMs),
        maxEjectionPercent: 100,
      };
      warnings.add(
        sidecarKey(service, 'breaker.maxEjection'),
        'Envoy ejects for baseEjectionTime times the number of ejections, without a maximum a DestinationRule can set; msup doubles up to maxEjection',
      );
    }
    added.push({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'DestinationRule',
      metadata: { name },
      spec: { host: name, trafficPolicy },
    });
    const route: Manifest = { route: [{ destination: { host: name, port: { number: port } } }] };
    if (s.retries > 0) {
      route.retries = { attempts: s.retries, retryOn: ISTIO_RETRY_ON };
      if (s.tryTimeoutMs > 0) route.retries.perTryTimeout = meshDuration(s.tryTimeoutMs);
      warnings.add(
        sidecarKey(service, 'retryBudget'),
        `Istio has no retry budget: connectionPool.http.maxRetries caps retries in flight at ${Math.max(1, s.minRetriesPerSecond)} (from minRetriesPerSecond)`,
      );
      warnings.add(
        sidecarKey(service, 'retries'),
        'Envoy retries 502-504 and resets for every method; msup retries them only for idempotent methods',
      );
    } else {
      route.retries = { attempts: 0 };
    }
    if (s.timeoutMs > 0) route.timeout = meshDuration(s.timeoutMs);
    added.push({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name },
      spec: { hosts: [name], http: [route] },
    });
    added.push({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'PeerAuthentication',
      metadata: { name },
      spec: {
        selector: { matchLabels: { ...target.spec.selector } },
        mtls: { mode: s.mtls === 'strict' ? 'STRICT' : 'PERMISSIVE' },
      },
    });
    warnings.add(
      sidecarKey(service, 'certLifetime'),
      `Istio sets workload certificate lifetimes mesh-wide (SECRET_TTL, 24h by default), not ${meshDuration(s.certLifetimeMs)} per service`,
    );
  }
  const behind = strictBehindGateway(config, manifests);
  // A service that is not HTTP gets no PeerAuthentication: the mesh's default applies to it.
  for (const service of behind?.services.filter((s) => s.balancing.mode === 'http') ?? [])
    warnings.add(
      sidecarKey(service, 'mtls'),
      `"strict" (STRICT): the Gateway "${behind?.gateway}" reaches ${service.name} only from inside the mesh: give it Istio's GatewayClass (istio), whose gateway is in the mesh, or inject the pods of your Gateway implementation (istio-injection=enabled on their namespace), or set mtls: 'permissive'`,
    );
  return [...manifests, ...added];
}
