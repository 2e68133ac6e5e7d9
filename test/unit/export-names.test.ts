// Names that two things of the config would share in an export: refused with MSUP_CONFIG_INVALID naming
// both (or made distinct), never one silently replacing the other.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { prepareConfig } from '../../src/config/load.js';
import { MsupError } from '../../src/errors.js';
import { Warnings } from '../../src/export/common.js';
import { knativeServices } from '../../src/export/knative.js';
import { kubernetesManifests } from '../../src/export/kubernetes.js';
import { samTemplate } from '../../src/export/sam.js';
import { toYaml } from '../../src/export/yaml.js';
import type { MsupConfig } from '../../src/types.js';
import { validateKubernetes } from '../helpers/k8s-validate.js';
import { validateKnative } from '../helpers/knative-validate.js';
import { validateSam } from '../helpers/sam-validate.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents, walked by hand
type Doc = Record<string, any>;

const resolve = (input: MsupConfig) => prepareConfig(input, '/srv/shop', null);

/** The MsupError `run` throws (the test fails when it throws none). */
function thrown(run: () => unknown): MsupError {
  try {
    run();
  } catch (error) {
    if (error instanceof MsupError) return error;
    throw error;
  }
  throw new Error('expected an MsupError');
}

const images = (input: MsupConfig) => new Map(Object.keys(input.services).map((n) => [n, 'localhost/x:1']));

/** The manifests as written and read back. */
function kube(input: MsupConfig) {
  const text = toYaml(kubernetesManifests(resolve(input), 'shop', images(input), new Warnings()), []);
  return YAML.parseAllDocuments(text).map((d) => d.toJS()) as Doc[];
}

function knative(input: MsupConfig) {
  const text = toYaml(knativeServices(resolve(input), 'shop', images(input), new Warnings()), []);
  return YAML.parseAllDocuments(text).map((d) => d.toJS()) as Doc[];
}

function sam(input: MsupConfig) {
  const warnings = new Warnings();
  const doc = YAML.parse(toYaml([samTemplate(resolve(input), warnings)], [])) as Doc;
  return { doc, warnings: warnings.list };
}

describe('SAM logical ids', () => {
  it("refuses a function whose id is another service's API (web-api's function, web's WebApi)", () => {
    const error = thrown(() =>
      sam({
        services: {
          'web-api': { command: 'node a.js', port: 8082 },
          web: { command: 'node w.js', port: 8081 },
        },
      }),
    );
    expect(error.code).toBe('MSUP_CONFIG_INVALID');
    expect(error.message).toContain('"web-api" (its function) and "web" (its own API) both become "WebApi"');
    expect(error.issues).toEqual([{ path: 'services.web', message: expect.stringContaining('rename one') }]);
  });

  it("refuses a function named as the shared front's API, or as another function's role", () => {
    const shared = thrown(() =>
      sam({
        proxy: { port: 8000, routes: [{ path: '/', service: 'web' }] },
        services: {
          'serverless-http-api': { command: 'node a.js', port: 8082 },
          web: { command: 'node w.js' },
        },
      }),
    );
    expect(shared.message).toContain('both become "ServerlessHttpApi"');
    const role = thrown(() =>
      sam({
        services: {
          web: { command: 'node w.js', port: 8081 },
          'web-role': { command: 'node r.js', port: 8082 },
        },
      }),
    );
    expect(role.message).toContain('both become "WebRole"');
  });

  it("refuses a service whose own ids meet the shared front's (serverless-http's API, shared-front's URL)", () => {
    for (const [name, id] of [
      ['serverless-http-api', 'ServerlessHttpApi'],
      ['serverless-http', 'ServerlessHttpApi'],
      ['shared-front', 'Outputs.SharedFrontUrl'],
    ] as const) {
      const error = thrown(() =>
        sam({
          proxy: { port: 8000, routes: [{ path: '/', service: name }] },
          services: { [name]: { command: 'node a.js', port: 8082 } },
        }),
      );
      expect({ name, message: error.message }).toEqual({
        name,
        message: expect.stringContaining(`both become "${id}"`),
      });
    }
  });

  it('still exports services whose ids do not meet', () => {
    const { doc } = sam({
      services: { web: { command: 'node w.js', port: 8081 }, api: { command: 'node a.js', port: 8082 } },
    });
    expect(validateSam(doc)).toEqual([]);
    expect(Object.keys(doc.Resources)).toEqual(['WebApi', 'Web', 'ApiApi', 'Api']);
  });
});

describe('SAM routes of the shared front', () => {
  it('refuses two routes that differ only by host, to two services (one path on the HttpApi)', () => {
    const error = thrown(() =>
      sam({
        proxy: {
          port: 8000,
          routes: [
            { host: 'a.com', path: '/', service: 'a' },
            { host: 'b.com', path: '/', service: 'b' },
          ],
        },
        services: { a: { command: 'node a.js' }, b: { command: 'node b.js' } },
      }),
    );
    expect(error.code).toBe('MSUP_CONFIG_INVALID');
    expect(error.message).toContain('proxy.routes.0 (a.com, / -> a) and proxy.routes.1 (b.com, / -> b)');
    expect(error.issues[0]?.path).toBe('proxy.routes.1');
    // A host's route and an any-host route with one path (/api and /api/) are one route too.
    const anyHost = thrown(() =>
      sam({
        proxy: {
          port: 8000,
          routes: [
            { host: 'a.com', path: '/api/', service: 'a' },
            { path: '/api', service: 'b' },
          ],
        },
        services: { a: { command: 'node a.js' }, b: { command: 'node b.js' } },
      }),
    );
    expect(anyHost.message).toContain('proxy.routes.1 (any host, /api -> b)');
  });

  it("merges routes that differ only by host to one service, warning with the config's route index", () => {
    const { doc, warnings } = sam({
      proxy: {
        port: 8000,
        routes: [
          { path: '/b', service: 'b' },
          { host: 'a.com', path: '/', service: 'a' },
          { host: 'b.com', path: '/', service: 'a' },
        ],
      },
      services: { a: { command: 'node a.js' }, b: { command: 'node b.js' } },
    });
    expect(validateSam(doc)).toEqual([]);
    expect(doc.Resources.A.Properties.Events).toEqual({
      Http: { Type: 'HttpApi', Properties: { Path: '/', Method: 'ANY' } },
      HttpProxy: { Type: 'HttpApi', Properties: { Path: '/{proxy+}', Method: 'ANY' } },
    });
    const keys = warnings.map((w) => w.key);
    expect(keys).toContain('proxy.routes.1.host');
    expect(keys).toContain('proxy.routes.2.host');
    expect(keys).not.toContain('proxy.routes.0.host');
  });
});

describe('Kubernetes HTTPRoutes', { timeout: 60_000 }, () => {
  it('one per host whatever the spelling: a.b and a-b, X.com and x.com, a host named front', () => {
    const manifests = kube({
      proxy: {
        port: 8000,
        routes: [
          { host: 'a.b', path: '/', service: 'web' },
          { host: 'a-b', path: '/', service: 'web' },
          { host: 'X.com', path: '/x', service: 'web' },
          { host: 'x.com', path: '/y', service: 'web' },
          { host: 'front', path: '/', service: 'web' },
          { path: '/', service: 'web' },
        ],
      },
      services: { web: { command: 'node s.js', port: 8080 } },
    });
    expect(validateKubernetes(manifests)).toEqual([]);
    const routes = manifests.filter((m) => m.kind === 'HTTPRoute');
    expect(routes.map((r) => [r.metadata.name, r.spec.hostnames])).toEqual([
      ['shop-a-b', ['a.b']],
      ['shop-a-b-2', ['a-b']],
      ['shop-x-com', ['x.com']],
      ['shop-front', ['front']],
      ['shop-front-2', undefined],
    ]);
    // X.com's and x.com's routes are one host's.
    expect(routes[2]?.spec.rules.map((r: Doc) => r.matches[0].path.value)).toEqual(['/x', '/y']);
  });

  it('more than 16 routes for one host: several HTTPRoutes of at most 16 rules', () => {
    const routes = Array.from({ length: 20 }, (_, i) => ({
      host: 'shop.example',
      path: `/p${i}`,
      service: 'web',
    }));
    const manifests = kube({
      proxy: { port: 8000, routes: [...routes, { host: 'shop-example-2', path: '/', service: 'web' }] },
      services: { web: { command: 'node s.js', port: 8080 } },
    });
    expect(validateKubernetes(manifests)).toEqual([]);
    const http = manifests.filter((m) => m.kind === 'HTTPRoute');
    expect(http.map((r) => [r.metadata.name, r.spec.rules.length])).toEqual([
      ['shop-shop-example', 16],
      ['shop-shop-example-2', 4],
      ['shop-shop-example-2-2', 1],
    ]);
    expect(http[1]?.spec.hostnames).toEqual(['shop.example']);
    expect(http.flatMap((r) => r.spec.rules.map((x: Doc) => x.matches[0].path.value))).toHaveLength(21);
  });
});

describe('Knative Service names', () => {
  it('refuses two services with one name (api.v1 and api_v1 are both api-v1), as the Kubernetes export does', () => {
    const input: MsupConfig = {
      proxy: {
        port: 8000,
        routes: [
          { path: '/1', service: 'api.v1' },
          { path: '/2', service: 'api_v1' },
        ],
      },
      services: { 'api.v1': { command: 'node a.js' }, api_v1: { command: 'node b.js' } },
    };
    const error = thrown(() => knative(input));
    expect(error.code).toBe('MSUP_CONFIG_INVALID');
    expect(error.message).toContain('"api.v1" and "api_v1" both become "api-v1" in Knative');
    expect(thrown(() => kube(input)).message).toContain('both become "api-v1" in Kubernetes');
    const fine = knative({
      proxy: { port: 8000, routes: [{ path: '/1', service: 'api.v1' }] },
      services: { 'api.v1': { command: 'node a.js' }, api_v2: { command: 'node b.js', port: 8081 } },
    });
    expect(validateKnative(fine)).toEqual([]);
  });
});
