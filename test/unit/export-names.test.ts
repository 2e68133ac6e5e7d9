// Names that two things of the config would share in an export: refused with MSUP_CONFIG_INVALID naming
// both (or made distinct), never one silently replacing the other.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { prepareConfig } from '../../src/config/load.js';
import { MsupError } from '../../src/errors.js';
import { Warnings } from '../../src/export/common.js';
import { samTemplate } from '../../src/export/sam.js';
import { toYaml } from '../../src/export/yaml.js';
import type { MsupConfig } from '../../src/types.js';
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
