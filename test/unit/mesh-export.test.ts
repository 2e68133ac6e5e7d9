// msup export linkerd|istio: the Kubernetes export with the mesh's parts, valid for the models'
// validators, with no unknown keys, Istio's rules pointing at the export's Services and pods, Linkerd's
// annotations as Linkerd reads them, and a warning naming the key for every mapping that loses something
// (in Compose and plain Kubernetes, the sidecar itself).
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfigFile, prepareConfig } from '../../src/config/load.js';
import { Warnings } from '../../src/export/common.js';
import { composeDocument } from '../../src/export/compose.js';
import { kubernetesFor } from '../../src/export/export.js';
import { toYaml } from '../../src/export/yaml.js';
import type { MsupConfig, ResolvedConfig } from '../../src/types.js';
import { strictKeyProblems, validateKubernetes } from '../helpers/k8s-validate.js';
import { linkerdProblems } from '../helpers/linkerd-rules.js';
import { REPO } from '../helpers/project.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents, walked by hand
type Doc = Record<string, any>;

const config: MsupConfig = {
  runtime: 'sidecar',
  proxy: { port: 8000, routes: [{ path: '/admin', service: 'admin' }] },
  services: {
    web: { command: 'node web.js', port: 8080 },
    api: {
      command: 'node api.js',
      port: 8081,
      sidecar: {
        retries: 3,
        tryTimeout: '250ms',
        timeout: '2s',
        breaker: { failures: 4, ejection: '2s', maxEjection: '90s' },
        balancing: 'least-request',
        mtls: 'permissive',
      },
    },
    admin: { command: 'node admin.js', sidecar: { retries: 0, breaker: false, timeout: 0 } },
    worker: { command: 'node worker.js' },
  },
};

/** The export as written and read back: what kubectl would read. */
function exported(target: 'linkerd' | 'istio', resolved: ResolvedConfig) {
  const warnings = new Warnings();
  const images = new Map(resolved.services.map((s) => [s.name, `localhost/msup-${s.name}:0123456789ab`]));
  const text = toYaml(kubernetesFor(target, resolved, 'shop', images, warnings), ['header']);
  return { docs: YAML.parseAllDocuments(text).map((d) => d.toJS()) as Doc[], warnings: warnings.list };
}

const find = (docs: Doc[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name) as Doc;

describe('msup export istio', { timeout: 120_000 }, () => {
  it('adds injection, and a DestinationRule, VirtualService and PeerAuthentication per HTTP Service, all valid', () => {
    const { docs, warnings } = exported('istio', prepareConfig(config, '/p', null));
    expect(validateKubernetes(docs)).toEqual([]);
    const mesh = docs.filter((d) => /istio/.test(d.apiVersion)).map((d) => `${d.kind}/${d.metadata.name}`);
    expect(mesh).toEqual([
      'DestinationRule/web',
      'VirtualService/web',
      'PeerAuthentication/web',
      'DestinationRule/api',
      'VirtualService/api',
      'PeerAuthentication/api',
      'DestinationRule/admin',
      'VirtualService/admin',
      'PeerAuthentication/admin',
    ]);
    for (const d of docs.filter((x) => x.kind === 'Deployment'))
      expect(d.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('true');
    expect(find(docs, 'DestinationRule', 'api').spec).toEqual({
      host: 'api',
      trafficPolicy: {
        loadBalancer: { simple: 'LEAST_REQUEST' },
        connectionPool: { http: { maxRetries: 10 } },
        tls: { mode: 'ISTIO_MUTUAL' },
        outlierDetection: {
          consecutive5xxErrors: 4,
          interval: '2s',
          baseEjectionTime: '2s',
          maxEjectionPercent: 100,
        },
      },
    });
    expect(find(docs, 'VirtualService', 'api').spec.http[0]).toEqual({
      route: [{ destination: { host: 'api', port: { number: 8081 } } }],
      retries: {
        attempts: 3,
        perTryTimeout: '250ms',
        retryOn: 'gateway-error,connect-failure,refused-stream,reset',
      },
      timeout: '2s',
    });
    expect(find(docs, 'VirtualService', 'web').spec.http[0]).toMatchObject({
      retries: { attempts: 2 },
      timeout: '10s',
    });
    expect(find(docs, 'VirtualService', 'admin').spec.http[0].retries).toEqual({ attempts: 0 });
    expect(find(docs, 'VirtualService', 'admin').spec.http[0].timeout).toBeUndefined();
    expect(find(docs, 'DestinationRule', 'admin').spec.trafficPolicy.outlierDetection).toBeUndefined();
    expect(['web', 'api', 'admin'].map((n) => find(docs, 'PeerAuthentication', n).spec.mtls.mode)).toEqual([
      'STRICT',
      'PERMISSIVE',
      'STRICT',
    ]);
    const keys = warnings.map((w) => w.key);
    expect(keys).toEqual(
      expect.arrayContaining([
        'services.web.sidecar.balancing',
        'services.web.sidecar.retryBudget',
        'services.api.sidecar.breaker.maxEjection',
        'services.api.sidecar.retries',
        'services.api.sidecar.certLifetime',
      ]),
    );
    // least-request maps exactly; a service without retries has no budget to lose.
    expect(keys).not.toContain('services.api.sidecar.balancing');
    expect(keys).not.toContain('services.admin.sidecar.retryBudget');
    // The mesh is exported: no warning that the sidecar is not.
    expect(keys).not.toContain('services.web.sidecar');
  });

  it("warns that the Gateway's pods cannot reach a routed service with strict mTLS, and says what to do", () => {
    const { warnings } = exported('istio', prepareConfig(config, '/p', null));
    const mtls = warnings.filter((w) => w.key.endsWith('.sidecar.mtls'));
    // admin is routed and strict; api is permissive; web and worker are not routed.
    expect(mtls).toEqual([
      {
        key: 'services.admin.sidecar.mtls',
        message: expect.stringMatching(/Gateway "shop-front".*GatewayClass \(istio\).*mtls: 'permissive'/),
      },
    ]);
    // Without routes there is no Gateway: nothing to warn about.
    const alone = exported('istio', prepareConfig({ ...config, proxy: {} }, '/p', null));
    expect(alone.warnings.filter((w) => w.key.endsWith('.sidecar.mtls'))).toEqual([]);
  });

  it("the checks catch what the models' validators let through", () => {
    const { docs } = exported('istio', prepareConfig(config, '/p', null));
    const rule = find(docs, 'DestinationRule', 'api');
    rule.spec.trafficPolicy.outlierDetection.consecutive5xxError = 3;
    rule.spec.host = 'nowhere';
    find(docs, 'PeerAuthentication', 'web').spec.selector.matchLabels = { app: 'other' };
    const problems = validateKubernetes(docs).join('\n');
    expect(problems).toContain('"consecutive5xxError"');
    expect(problems).toContain('DestinationRule/api: host nowhere is not a Service of the export');
    expect(problems).toContain("PeerAuthentication/web: selects no Deployment's pods");
    expect(strictKeyProblems([rule]).join('\n')).toContain('"consecutive5xxError"');
  });
});

describe('msup export linkerd', { timeout: 120_000 }, () => {
  it('injects every pod with its inbound policy, and annotates each Service with retries, timeouts and failure accrual', () => {
    const { docs, warnings } = exported('linkerd', prepareConfig(config, '/p', null));
    expect(validateKubernetes(docs)).toEqual([]);
    expect(linkerdProblems(docs)).toEqual([]);
    const pod = (name: string) => find(docs, 'Deployment', name).spec.template.metadata.annotations;
    expect(pod('web')).toEqual({
      'linkerd.io/inject': 'enabled',
      'config.linkerd.io/default-inbound-policy': 'all-authenticated',
    });
    expect(pod('api')['config.linkerd.io/default-inbound-policy']).toBe('all-unauthenticated');
    expect(pod('worker')['linkerd.io/inject']).toBe('enabled');
    expect(find(docs, 'Service', 'api').metadata.annotations).toEqual({
      'retry.linkerd.io/http': '502-504',
      'retry.linkerd.io/limit': '3',
      'retry.linkerd.io/timeout': '250ms',
      'timeout.linkerd.io/request': '2s',
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '4',
      'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '2s',
      'balancer.linkerd.io/failure-accrual-consecutive-max-penalty': '90s',
      'balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio': '0',
    });
    expect(find(docs, 'Service', 'admin').metadata.annotations).toBeUndefined();
    expect(warnings.map((w) => w.key)).toEqual(
      expect.arrayContaining([
        'services.web.sidecar.retryBudget',
        'services.api.sidecar.balancing',
        'services.web.sidecar.certLifetime',
      ]),
    );
    expect(warnings.map((w) => w.key)).not.toContain('services.web.sidecar');
  });

  it("warns that the Gateway's pods cannot reach a routed service with strict mTLS, and says what to do", () => {
    const { warnings } = exported('linkerd', prepareConfig(config, '/p', null));
    expect(warnings.filter((w) => w.key.endsWith('.sidecar.mtls'))).toEqual([
      {
        key: 'services.admin.sidecar.mtls',
        message: expect.stringMatching(
          /Gateway "shop-front".*linkerd\.io\/inject: enabled.*mtls: 'permissive'/,
        ),
      },
    ]);
    const permissive = prepareConfig(
      {
        ...config,
        services: {
          ...config.services,
          admin: { command: 'node admin.js', sidecar: { mtls: 'permissive' } },
        },
      },
      '/p',
      null,
    );
    expect(exported('linkerd', permissive).warnings.filter((w) => w.key.endsWith('.sidecar.mtls'))).toEqual(
      [],
    );
  });

  it('of the demo: valid, and its own rules catch a bad annotation', async () => {
    const { docs } = exported('linkerd', await loadConfigFile({ cwd: REPO }));
    expect(validateKubernetes(docs)).toEqual([]);
    expect(linkerdProblems(docs)).toEqual([]);
    const service = docs.find((d) => d.kind === 'Service') as Doc;
    service.metadata.annotations = { 'retry.linkerd.io/limit': 'two', 'linkerd.io/injct': 'enabled' };
    service.metadata.annotations['linkerd.io/inject'] = 'enabled';
    expect(linkerdProblems([service])).toEqual([
      `Service/${service.metadata.name}: retry.linkerd.io/limit: invalid value "two"`,
      `Service/${service.metadata.name}: unknown Linkerd annotation linkerd.io/injct`,
      `Service/${service.metadata.name}: linkerd.io/inject does not belong on a Service`,
      `Service/${service.metadata.name}: retry.linkerd.io/limit without retry.linkerd.io/http retries nothing`,
    ]);
  });
});

describe('msup export compose|k8s of services with a sidecar', () => {
  it('warns that the sidecar (mTLS, retries, breaker) is not exported, for each service that runs with one', () => {
    const resolved = prepareConfig(
      {
        ...config,
        runtime: 'process',
        services: {
          ...config.services,
          api: {
            command: 'node api.js',
            port: 8081,
            runtime: { sidecar: { retries: 3, mtls: 'permissive', breaker: { failures: 2 } } },
          },
        },
      },
      '/p',
      null,
    );
    const images = new Map(resolved.services.map((s) => [s.name, `localhost/msup-${s.name}:0123456789ab`]));
    const k8s = new Warnings();
    kubernetesFor('k8s', resolved, 'shop', images, k8s);
    const compose = new Warnings();
    composeDocument(resolved, 'shop', images, null, compose);
    for (const [target, warnings] of [
      ['Kubernetes', k8s],
      ['Compose', compose],
    ] as const) {
      const sidecar = warnings.list.filter((w) => /\.sidecar/.test(w.key));
      // Only api runs with a sidecar here; the others' sidecar settings are not in use.
      expect(sidecar).toEqual([
        {
          key: 'services.api.sidecar',
          message: `${target} has no mesh: the sidecar's mTLS, retries, timeouts, circuit breaker and balancing are not exported (msup export linkerd or msup export istio adds them)`,
        },
      ]);
    }
  });
});
