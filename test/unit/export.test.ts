// The Compose and Kubernetes exports of the demo and of a config that uses every key: valid against the
// upstream schemas and the semantic rules, with each lossy mapping a warning that names its key.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfigFile, prepareConfig } from '../../src/config/load.js';
import { Warnings } from '../../src/export/common.js';
import { composeDocument } from '../../src/export/compose.js';
import { kubernetesManifests } from '../../src/export/kubernetes.js';
import { toYaml } from '../../src/export/yaml.js';
import type { MsupConfig, ResolvedConfig } from '../../src/types.js';
import { validateCompose } from '../helpers/compose-validate.js';
import { kubeEnvironment, kubeExpand } from '../helpers/k8s-expand.js';
import { semanticProblems, strictKeyProblems, validateKubernetes } from '../helpers/k8s-validate.js';
import { REPO } from '../helpers/project.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents, walked by hand
type Doc = Record<string, any>;

const at = (list: Doc[], index: number) => list[index] as Doc;

const images = (config: ResolvedConfig) =>
  new Map(config.services.map((s) => [s.name, `localhost/msup-${s.name.toLowerCase()}:0123456789ab`]));

/** Both exports, as written and read back: what a user's tools would read. */
function exportBoth(config: ResolvedConfig) {
  const k8sWarnings = new Warnings();
  const composeWarnings = new Warnings();
  const manifests = kubernetesManifests(config, 'shop', images(config), k8sWarnings);
  const compose = composeDocument(config, 'shop', images(config), null, composeWarnings);
  const k8sText = toYaml(manifests, ['header']);
  const composeText = toYaml([compose], ['header']);
  return {
    manifests: YAML.parseAllDocuments(k8sText).map((d) => d.toJS()) as Doc[],
    compose: YAML.parse(composeText) as Doc,
    composeText,
    k8sText,
    k8sWarnings: k8sWarnings.list,
    composeWarnings: composeWarnings.list,
  };
}

const KITCHEN_SINK: MsupConfig = {
  proxy: {
    port: 8000,
    headersTimeout: '20s',
    routes: [
      { path: '/api', service: 'api', stripPrefix: true },
      { host: 'admin.localhost', service: 'Admin_UI' },
      { path: '/', service: 'web' },
    ],
  },
  services: {
    web: {
      command: 'node server.js --port=$PORT && echo "$(date)"',
      instances: 3,
      port: 8080,
      health: { http: '/health', interval: '500ms', timeout: '2s', successThreshold: 2, initialDelay: '1s' },
      memory: '256m',
      cpus: 0.5,
      watch: ['src/**'],
      drainTimeout: '10s',
      weights: [3, 1, 1],
      env: { PRICE: '$5', FORMAT: '$(literal)' },
    },
    api: {
      command: ['node', 'api.js'],
      instances: 2,
      readiness: { tcp: true },
      liveness: { exec: 'test -e /tmp/alive', interval: '5s' },
      strategy: 'least-request',
      dependsOn: { db: 'ready', migrate: 'completed', worker: 'started' },
      stopTimeout: '1500ms',
    },
    Admin_UI: { command: 'node admin.js', runtime: 'container', container: { mount: 'rw' } },
    db: { command: ['node', 'db.js'], port: 5433, mode: 'tcp' },
    migrate: { command: 'node migrate.js', restart: { policy: 'on-failure', maxDelay: '1m' } },
    worker: { command: 'node worker.js', restart: 'never' },
  },
};

describe('Kubernetes export', { timeout: 120_000 }, () => {
  it('of the demo: valid (models, unknown keys, semantics), with probes, rolling update and a Gateway', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { manifests, k8sWarnings } = exportBoth(config);
    expect(validateKubernetes(manifests)).toEqual([]);
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'Deployment/web',
      'Deployment/api',
      'Deployment/worker',
      'Service/web',
      'Service/api',
      'Gateway/shop-front',
      'HTTPRoute/shop-front',
    ]);
    const web = manifests[0] as Doc;
    expect(web.spec.replicas).toBe(3);
    expect(web.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    const container = web.spec.template.spec.containers[0];
    // Each service's address, as msup gives it: its Service.
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'MSUP_WEB_URL', value: 'http://web:8080' },
        { name: 'MSUP_API_URL', value: 'http://api:8081' },
      ]),
    );
    expect(container.command).toEqual(['node', 'fixtures/echo-server.js']);
    expect(container.workingDir).toBe(REPO.replace(/\/$/, ''));
    expect(container.readinessProbe).toEqual({
      httpGet: { path: '/health', port: 8080 },
      periodSeconds: 2,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    });
    expect(container.startupProbe).toMatchObject({ periodSeconds: 1, failureThreshold: 60 });
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/health', port: 8080 } });
    // The worker has no probe, and no liveness anywhere unless configured.
    expect(manifests[2]?.spec.template.spec.containers[0].readinessProbe).toBeUndefined();
    const route = manifests[6] as Doc;
    expect(route.spec.rules).toEqual([
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [
          {
            type: 'URLRewrite',
            urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } },
          },
        ],
        backendRefs: [{ name: 'api', port: 8081 }],
      },
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', port: 8080 }] },
    ]);
    const keys = k8sWarnings.map((w) => w.key);
    expect(keys).toEqual(
      expect.arrayContaining([
        'services.api.dependsOn',
        'services.worker.restart',
        'services.api.strategy',
        'proxy',
      ]),
    );
  });

  it('of every key: valid, resources and grace period mapped, every lossy mapping named', async () => {
    const config = prepareConfig(KITCHEN_SINK, '/srv/shop', null);
    const { manifests, k8sWarnings } = exportBoth(config);
    expect(validateKubernetes(manifests)).toEqual([]);
    const web = manifests.find((m) => m.metadata.name === 'web' && m.kind === 'Deployment') as Doc;
    const c = web.spec.template.spec.containers[0];
    expect(c.resources).toEqual({
      limits: { memory: '256Mi', cpu: '500m' },
      requests: { memory: '256Mi', cpu: '500m' },
    });
    // The kubelet reduces $$ to $ and expands $(date) and $(literal): every $ doubled, so the shell and
    // the program see them as written.
    expect(c.command[2]).toBe('node server.js --port=$$PORT && echo "$$(date)"');
    expect(c.env).toContainEqual({ name: 'FORMAT', value: '$$(literal)' });
    expect(c.env).toContainEqual({ name: 'PRICE', value: '$$5' });
    // podman kube play reads no $$ back: said once.
    expect(k8sWarnings.filter((w) => w.key === '$')).toEqual([
      { key: '$', message: expect.stringContaining('podman kube play passes $$ on as written') },
    ]);
    const api = manifests.find((m) => m.metadata.name === 'api' && m.kind === 'Deployment') as Doc;
    expect(api.spec.template.spec.terminationGracePeriodSeconds).toBe(2);
    expect(api.spec.template.spec.containers[0].livenessProbe.exec.command).toEqual([
      '/bin/sh',
      '-c',
      'test -e /tmp/alive',
    ]);
    expect(manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === 'admin-ui')).toBeDefined();
    const hostRoute = manifests.find((m) => m.kind === 'HTTPRoute' && m.spec.hostnames) as Doc;
    expect(hostRoute.spec.hostnames).toEqual(['admin.localhost']);
    const keys = k8sWarnings.map((w) => w.key);
    for (const key of [
      'services.web.watch',
      'services.web.weights',
      'services.web.drainTimeout',
      'services.web.readiness.interval',
      'services.web.command',
      'services.web.instances',
      'services.api.dependsOn',
      'services.api.stopTimeout',
      'services.migrate.restart',
      'services.worker.restart',
      'services.Admin_UI',
      'services.Admin_UI.container.mount',
      'proxy.headersTimeout',
    ])
      expect(keys).toContain(key);
  });

  it('keeps every $ as written: the kubelet reduces $$ to $ and expands $(VAR) in commands, env and exec probes', () => {
    const values = [
      'pa$$word',
      '$(HOME)',
      '$$(HOME)',
      '$5',
      'ends in $',
      '$',
      'caf$é',
      '$(unclosed',
      'a$$$b',
    ];
    const env = Object.fromEntries(values.map((v, i) => [`V${i}`, v]));
    const line = 'echo "$(date)" $$ $HOME $(HOME)';
    const config = prepareConfig(
      {
        services: {
          web: { command: `${line} | cat`, env: { HOME: '/h', ...env }, liveness: { exec: line } },
          own: { command: ['x', 'pa$$word', '$(HOME)'], env: { HOME: '/h' } },
        },
      },
      '/srv/shop',
      null,
    );
    const warnings = new Warnings();
    const text = toYaml(kubernetesManifests(config, 'shop', images(config), warnings, new Set(['own'])), [
      'h',
    ]);
    const manifests = YAML.parseAllDocuments(text).map((d) => d.toJS()) as Doc[];
    const container = (name: string) =>
      manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name)?.spec.template.spec
        .containers[0] as Doc;
    const web = container('web');
    const vars = kubeEnvironment(web.env);
    for (const [name, value] of Object.entries(env)) expect(vars[name], name).toBe(value);
    expect(vars.HOME).toBe('/h');
    const program = (argv: string[]) => argv.map((a) => kubeExpand(a, vars));
    expect(program(web.command)).toEqual(['/bin/sh', '-c', `${line} | cat`]);
    expect(program(web.livenessProbe.exec.command)).toEqual(['/bin/sh', '-c', line]);
    expect(program(container('own').args)).toEqual(['x', 'pa$$word', '$(HOME)']);
  });

  it('the checks catch what the validators let through (unknown keys, selectors, ports, references)', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { manifests } = exportBoth(config);
    const broken = structuredClone(manifests);
    at(broken, 0).spec.template.spec.containers[0].readinesProbe = {};
    at(broken, 1).spec.template.spec.terminationGracePeriodSecond = 5;
    at(broken, 3).spec.ports[0].targetPort = { port: 8080 };
    const strict = strictKeyProblems(broken).join('\n');
    expect(strict).toContain("'\"readinesProbe\"' does not exist in type 'IContainer'");
    expect(strict).toContain("'\"terminationGracePeriodSecond\"' does not exist in type 'IPodSpec'");
    expect(strict).toContain("is not assignable to type 'IIntOrString | undefined'");

    const unselected = structuredClone(manifests);
    at(unselected, 1).spec.selector.matchLabels['app.kubernetes.io/name'] = 'other';
    at(unselected, 3).spec.selector['app.kubernetes.io/name'] = 'nothing';
    at(unselected, 0).spec.template.spec.containers[0].livenessProbe.httpGet.port = 9999;
    at(unselected, 6).spec.rules[0].backendRefs[0].port = 1234;
    at(unselected, 6).spec.parentRefs[0].name = 'elsewhere';
    const problems = semanticProblems(unselected).join('\n');
    expect(problems).toContain("Deployment/api: spec.selector does not match the pod template's labels");
    expect(problems).toContain('Service/web: selects 0 Deployments');
    expect(problems).toContain('livenessProbe probes port 9999');
    expect(problems).toContain('backendRef api:1234 is not a port of the Service');
    expect(problems).toContain('parentRef elsewhere is not a Gateway');
  });
});

describe('Compose export', () => {
  it('of the demo: valid against the compose-spec schema, replicas, healthchecks, depends_on, one front', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { compose, composeWarnings } = exportBoth(config);
    expect(validateCompose(compose)).toEqual([]);
    const { web, api, worker } = compose.services;
    expect(web.deploy).toEqual({ replicas: 3 });
    expect(web.entrypoint).toEqual(['node', 'fixtures/echo-server.js']);
    expect(web.healthcheck).toMatchObject({ interval: '2s', timeout: '1s', retries: 3, start_period: '1m' });
    expect(web.healthcheck.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(web.restart).toBe('always');
    expect(web.stop_grace_period).toBe('5s');
    expect(api.depends_on).toEqual({ web: { condition: 'service_healthy' } });
    expect(worker.restart).toBe('on-failure');
    // Each service's address, as msup gives it: an HTTP service's through the front (web calls api at it).
    for (const s of [web, api, worker]) {
      expect(s.environment).toMatchObject({
        MSUP_WEB_URL: 'http://msup-front:8080',
        MSUP_API_URL: 'http://msup-front:8081',
      });
    }
    // One published front: nginx, on 127.0.0.1, routing as msup's shared front does.
    const front = compose.services['msup-front'];
    expect(front.ports).toEqual([
      { target: 8000, host_ip: '127.0.0.1', published: '8000', protocol: 'tcp' },
      { target: 8080, host_ip: '127.0.0.1', published: '8080', protocol: 'tcp' },
      { target: 8081, host_ip: '127.0.0.1', published: '8081', protocol: 'tcp' },
    ]);
    // The file escapes $ as $$ (Compose would interpolate it): the config reads back with nginx's variables.
    const nginx = compose.configs['msup-front'].content as string;
    expect(nginx).toContain('location /api/ {\n    proxy_pass http://msup_1_api$$msup_rest_0;');
    expect(nginx).toContain('$$http_upgrade');
    expect(nginx).toMatch(
      /upstream msup_1_api \{\n {2}least_conn;\n {2}server api:8081 max_fails=1 fail_timeout=10s;/,
    );
    expect(composeWarnings.map((w) => w.key)).toContain('services.web.liveness');
  });

  it("keeps an image's own ENTRYPOINT and WORKDIR, as msup's container runtime does; the minimal image's command whole", () => {
    const config = prepareConfig(
      {
        services: {
          db: { command: ['postgres', '-c', 'fsync=off'], port: 5432, container: { image: 'postgres:16' } },
          web: { command: ['node', 's.js'], port: 8080 },
        },
      },
      '/srv/shop',
      null,
    );
    const compose = YAML.parse(
      toYaml([composeDocument(config, 'shop', images(config), null, new Warnings(), new Set(['db']))], []),
    );
    expect(validateCompose(compose)).toEqual([]);
    const { db, web } = compose.services;
    expect([db.command, db.entrypoint, db.working_dir]).toEqual([
      ['postgres', '-c', 'fsync=off'],
      undefined,
      undefined,
    ]);
    expect([web.command, web.entrypoint, web.working_dir]).toEqual([
      undefined,
      ['node', 's.js'],
      '/srv/shop',
    ]);
    const manifests = YAML.parseAllDocuments(
      toYaml(kubernetesManifests(config, 'shop', images(config), new Warnings(), new Set(['db'])), []),
    ).map((d) => d.toJS()) as Doc[];
    expect(validateKubernetes(manifests)).toEqual([]);
    const container = (name: string) =>
      manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name)?.spec.template.spec
        .containers[0];
    expect(container('db')).toMatchObject({ args: ['postgres', '-c', 'fsync=off'] });
    expect([container('db').command, container('db').workingDir]).toEqual([undefined, undefined]);
    expect(container('web')).toMatchObject({ command: ['node', 's.js'], workingDir: '/srv/shop' });
    expect(container('web').args).toBeUndefined();
  });

  it('leaves out a dependency on a function (not in the file), with a warning', () => {
    const config = prepareConfig(
      {
        services: {
          hello: { handler: 'fns/hello.handler', runtime: 'function', port: 0 },
          web: { command: 'node s.js', port: 8080, dependsOn: { hello: 'started' } },
        },
      },
      '/srv/shop',
      null,
    );
    const { compose, composeWarnings } = exportBoth(config);
    expect(validateCompose(compose)).toEqual([]);
    expect(Object.keys(compose.services)).toEqual(['web', 'msup-front']);
    expect(compose.services.web.depends_on).toBeUndefined();
    expect(composeWarnings.map((w) => w.key)).toContain('services.web.dependsOn.hello');
    // Nor does web get its address: the warning says so.
    expect(compose.services.web.environment.MSUP_HELLO_URL).toBeUndefined();
    expect(composeWarnings.find((w) => w.key === 'services.hello')?.message).toContain('MSUP_HELLO_URL');
  });

  it('of every key: valid, conditions and escapes right, every lossy mapping named', () => {
    const config = prepareConfig(KITCHEN_SINK, '/srv/shop', null);
    const { compose, composeWarnings, composeText } = exportBoth(config);
    expect(validateCompose(compose)).toEqual([]);
    const s = compose.services;
    expect(s.api.depends_on).toEqual({
      db: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
      worker: { condition: 'service_started' },
    });
    expect(s.worker.restart).toBe('no');
    expect(s.web.deploy.resources).toEqual({ limits: { cpus: '0.5', memory: '256m' } });
    expect(s.web.healthcheck).toMatchObject({ interval: '500ms', timeout: '2s', start_interval: '100ms' });
    expect(s.web.entrypoint[2]).toBe('node server.js --port=$$PORT && echo "$$(date)"');
    expect(s.web.environment.PRICE).toBe('$$5');
    expect(s.api.stop_grace_period).toBe('1500ms');
    expect(s.api.healthcheck.test[3]).toContain("require('net').connect");
    expect(composeText).toContain('restart: "no"');
    const keys = composeWarnings.map((w) => w.key);
    for (const key of [
      'services.web.watch',
      'services.web.weights',
      'services.web.readiness.successThreshold',
      'services.web.readiness.initialDelay',
      'services.api.liveness',
      'services.migrate.restart',
      'services.db.mode',
      'services.Admin_UI.container.mount',
    ])
      expect(keys).toContain(key);
  });

  it('the checks catch what the schema lets through (enums, durations, sizes, references)', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { compose } = exportBoth(config);
    const broken = structuredClone(compose);
    broken.services.web.restart = 'sometimes';
    broken.services.web.stop_grace_period = '5 seconds';
    broken.services.web.healthcheck.test[0] = 'RUN';
    broken.services.web.deploy.resources = { limits: { memory: 'lots' } };
    broken.services.api.depends_on.nothing = { condition: 'service_started' };
    broken.services.web.bogus = true;
    const problems = validateCompose(broken).join('\n');
    expect(problems).toContain('services.web.restart: "sometimes"');
    expect(problems).toContain('services.web.stop_grace_period: "5 seconds" is not a duration');
    expect(problems).toContain('healthcheck.test: must start with CMD');
    expect(problems).toContain('limits.memory: "lots" is not a size');
    expect(problems).toContain('services.api.depends_on: no service "nothing"');
    expect(problems).toMatch(/\/services\/web: must NOT have additional properties/);
  });
});
