// What the exports do with what msup gives an instance beside its command: each peer's address
// (MSUP_<NAME>_URL) and, for an image of its own, the project folder mounted into it.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { prepareConfig } from '../../src/config/load.js';
import { givenImageWarnings, Warnings } from '../../src/export/common.js';
import { knativeServices } from '../../src/export/knative.js';
import { samTemplate } from '../../src/export/sam.js';
import { toYaml } from '../../src/export/yaml.js';
import type { MsupConfig } from '../../src/types.js';
import { validateKnative } from '../helpers/knative-validate.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents, walked by hand
type Doc = Record<string, any>;

const CONFIG: MsupConfig = {
  proxy: { port: 8000, routes: [{ path: '/hello', service: 'hello' }] },
  services: {
    'web.app': { command: 'node w.js', port: 8080 },
    api: { command: 'node a.js', port: 8081 },
    hello: { handler: 'fns/hello.handler' },
    db: { command: 'node db.js', port: 5433, mode: 'tcp' },
  },
};

describe('peer addresses', () => {
  it('Knative: MSUP_<NAME>_URL is each Knative Service by its name; a service not exported is named in a warning', () => {
    const config = prepareConfig(CONFIG, '/srv/shop', null);
    const warnings = new Warnings();
    const images = new Map(config.services.map((s) => [s.name, 'localhost/x:1']));
    const text = toYaml(knativeServices(config, 'shop', images, warnings), []);
    const manifests = YAML.parseAllDocuments(text).map((d) => d.toJS()) as Doc[];
    expect(validateKnative(manifests)).toEqual([]);
    expect(manifests.map((m) => m.metadata.name)).toEqual(['web-app', 'api', 'hello']);
    for (const m of manifests)
      expect(m.spec.template.spec.containers[0].env).toEqual(
        expect.arrayContaining([
          { name: 'MSUP_WEB_APP_URL', value: 'http://web-app' },
          { name: 'MSUP_API_URL', value: 'http://api' },
        ]),
      );
    const env = manifests[0]?.spec.template.spec.containers[0].env as Doc[];
    expect(env.find((e) => e.name === 'MSUP_DB_URL')).toBeUndefined();
    expect(warnings.list).toContainEqual({
      key: 'services.db',
      message: expect.stringContaining('MSUP_DB_URL'),
    });
  });

  it('SAM: a warning names the MSUP_<NAME>_URL variables the functions do not get', () => {
    const warnings = new Warnings();
    samTemplate(prepareConfig(CONFIG, '/srv/shop', null), warnings);
    const peers = warnings.list.find((w) => w.key === 'peers');
    expect(peers?.message).toMatch(/^MSUP_WEB_APP_URL, MSUP_API_URL, MSUP_DB_URL not set/);
  });
});

describe('an image of its own (container.image)', () => {
  it('is named in a warning when msup mounts the project into it (the export has no project files)', () => {
    const config = prepareConfig(
      {
        services: {
          web: { command: 'node s.js', port: 8080, container: { image: 'node:20' } },
          db: { command: ['postgres'], port: 5432, container: { image: 'postgres:16', mount: false } },
          api: { command: 'node a.js', port: 8081, runtime: 'container' },
        },
      },
      '/srv/shop',
      null,
    );
    const warnings = new Warnings();
    givenImageWarnings(
      config,
      {
        web: { ref: 'node:20', kind: 'given' },
        db: { ref: 'postgres:16', kind: 'given' },
        api: { ref: 'localhost/msup-api:1', kind: 'minimal' },
      },
      warnings,
    );
    expect(warnings.list).toEqual([
      {
        key: 'services.web.container.image',
        message: expect.stringContaining('msup runs node:20 with the project folder mounted at /srv/shop'),
      },
    ]);
  });
});
