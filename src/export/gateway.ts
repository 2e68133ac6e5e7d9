// The shared front in Kubernetes: a Gateway listening on `proxy.port` and HTTPRoutes (per host, at most
// 16 rules each, names distinct) routing as msup does. Pure.
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { servicePort, type Warnings } from './common.js';
import { kubernetesName, uniqueNames } from './kube-names.js';

type Manifest = Record<string, unknown>;

/** The Gateway API's bound on an HTTPRoute's `spec.rules`. */
const MAX_RULES = 16;

/** The shared front: a Gateway listening on `proxy.port`, and HTTPRoutes per host (and for any host). */
export function front(
  config: ResolvedConfig,
  project: string,
  labels: Record<string, string>,
  warnings: Warnings,
): Manifest[] {
  const gateway = `${project}-front`;
  warnings.add(
    'proxy',
    `the shared front is the Gateway "${gateway}" with gatewayClassName "${project}": set it to a GatewayClass of your cluster (kubectl get gatewayclass)`,
  );
  if (config.proxy.headersTimeoutMs !== 10_000)
    warnings.add('proxy.headersTimeout', 'the Gateway implementation sets its own: not exported');
  const byService = new Map(config.services.map((s) => [s.name, s]));
  // msup compares hosts case-insensitively (X.com is x.com), and the Gateway API takes lower case only.
  const hostOf = (r: (typeof config.proxy.routes)[number]) => r.host?.toLowerCase() ?? '';
  const hosts = [...new Set(config.proxy.routes.map(hostOf))];
  // An HTTPRoute has at most 16 rules: a host with more gets several (precedence is across them all).
  const parts = hosts.flatMap((host) => {
    const rules = config.proxy.routes.filter((r) => hostOf(r) === host);
    const chunks = Array.from({ length: Math.ceil(rules.length / MAX_RULES) }, (_, i) =>
      rules.slice(i * MAX_RULES, (i + 1) * MAX_RULES),
    );
    const base = host ? kubernetesName(`${project}-${host}`) : `${project}-front`;
    return chunks.map((chunk, i) => ({
      host,
      chunk,
      name: i === 0 ? base : `${base.slice(0, 60).replace(/-+$/, '')}-${i + 1}`,
    }));
  });
  const names = uniqueNames(parts.map((p) => p.name));
  const routes = parts.map(({ host, chunk }, i) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: names[i], labels },
    spec: {
      parentRefs: [{ name: gateway }],
      ...(host ? { hostnames: [host] } : {}),
      rules: chunk.map((r) => {
        const target = byService.get(r.service) as ResolvedService;
        const prefix = r.path ?? '/';
        return {
          matches: [{ path: { type: 'PathPrefix', value: prefix } }],
          ...(r.stripPrefix && prefix !== '/'
            ? {
                filters: [
                  {
                    type: 'URLRewrite',
                    urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } },
                  },
                ],
              }
            : {}),
          backendRefs: [{ name: kubernetesName(r.service), port: servicePort(target) }],
        };
      }),
    },
  }));
  const port = config.proxy.port !== null && config.proxy.port > 0 ? config.proxy.port : 80;
  return [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: gateway, labels },
      spec: { gatewayClassName: project, listeners: [{ name: 'http', protocol: 'HTTP', port }] },
    },
    ...routes,
  ];
}
