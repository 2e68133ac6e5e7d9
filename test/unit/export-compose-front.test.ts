// The Compose export as Compose and its nginx front would run it: the front's config loads in the real
// nginx (`nginx -t`), healthchecks run the path asked for, the containers get an init, and the front
// neither waits on what calls through it nor replaces a service.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { prepareConfig } from '../../src/config/load.js';
import { MsupError } from '../../src/errors.js';
import { Warnings } from '../../src/export/common.js';
import { composeDocument } from '../../src/export/compose.js';
import { toYaml } from '../../src/export/yaml.js';
import { FrontProxy } from '../../src/proxy/front.js';
import type { MsupConfig } from '../../src/types.js';
import { validateCompose } from '../helpers/compose-validate.js';
import { nginxProblems, runNginx } from '../helpers/nginx-validate.js';
import { nginx } from '../helpers/tools.js';
import { statusOf, useUpstreams } from '../helpers/upstreams.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, walked by hand
type Doc = Record<string, any>;

const nginxTool = nginx();
const { headRecorder, proxy } = useUpstreams();

/** The compose file as written and read back, with its warnings. */
function compose(input: MsupConfig) {
  const config = prepareConfig(input, '/srv/shop', null);
  const images = new Map(config.services.map((s) => [s.name, 'localhost/msup-x:0123456789ab']));
  const warnings = new Warnings();
  const doc = YAML.parse(toYaml([composeDocument(config, 'shop', images, null, warnings)], [])) as Doc;
  return { doc, warnings: warnings.list };
}

describe('the Compose front (nginx)', () => {
  it.skipIf(nginxTool.skip)('loads in nginx when service names differ only in - _ . or case', () => {
    const { doc } = compose({
      proxy: {
        port: 8000,
        routes: [
          { path: '/1', service: 'a-b' },
          { path: '/2', service: 'a_b' },
          { path: '/3', service: 'a.b' },
          { path: '/4', service: 'A-b' },
        ],
      },
      services: {
        'a-b': { command: 'node s.js', port: 8081 },
        a_b: { command: 'node s.js' },
        'a.b': { command: 'node s.js' },
        'A-b': { command: 'node s.js' },
      },
    });
    expect(validateCompose(doc)).toEqual([]);
    const content = doc.configs['msup-front'].content as string;
    expect(nginxProblems(nginxTool.need(), content)).toBe('');
    // Each route still reaches its own service.
    for (const [prefix, service] of [
      ['/1', 'a-b'],
      ['/2', 'a_b'],
      ['/3', 'a.b'],
      ['/4', 'A-b'],
    ] as const) {
      const upstream = new RegExp(`location ${prefix}/ \\{\\n {4}proxy_pass http://(\\w+);`).exec(
        content,
      )?.[1];
      expect(content).toContain(`upstream ${upstream} {`);
      const block = content.slice(content.indexOf(`upstream ${upstream} {`));
      expect(block).toMatch(new RegExp(`^upstream \\w+ \\{\\n {2}server ${service.replace('.', '\\.')}:`));
    }
  });

  it.skipIf(nginxTool.skip)('loads in nginx with route paths that mean something to its parser', () => {
    const paths = ['/a;b', '/x"y{z}', '/h#w', "/q'r", '/s\\t', '/d$x', '/plain-path_1.2'];
    const { doc } = compose({
      proxy: { port: 8000, routes: paths.map((path) => ({ path, service: 'web' })) },
      services: { web: { command: 'node s.js', port: 8081 } },
    });
    const content = doc.configs['msup-front'].content as string;
    expect(nginxProblems(nginxTool.need(), content)).toBe('');
    expect(content).toContain('location = "/a;b" {');
    expect(content).toContain('location = "/x\\"y{z}" {');
    expect(content).toContain('location /plain-path_1.2/ {');
    // And as stripped prefixes, each a regular expression in a map.
    const stripped = compose({
      proxy: { port: 8000, routes: paths.map((path) => ({ path, service: 'web', stripPrefix: true })) },
      services: { web: { command: 'node s.js', port: 8081 } },
    });
    expect(nginxProblems(nginxTool.need(), stripped.doc.configs['msup-front'].content)).toBe('');
  });

  it.skipIf(nginxTool.skip)(
    "loads in nginx when a host's route and an any-host route differ only by a trailing slash",
    () => {
      const { doc } = compose({
        proxy: {
          port: 8000,
          routes: [
            { host: 'x.com', path: '/api/', service: 'api' },
            { path: '/api', service: 'web' },
            { path: '/api/v1', service: 'web' },
            { host: 'X.com', path: '/', service: 'web' },
            { host: 'y.com', path: '/other', service: 'api' },
            { host: 'Y.com', path: '/more', service: 'api' },
          ],
        },
        services: { api: { command: 'node s.js' }, web: { command: 'node s.js' } },
      });
      const content = doc.configs['msup-front'].content as string;
      expect(nginxProblems(nginxTool.need(), content)).toBe('');
      // A host's routes win over the any-host ones (msup's router): y.com's /api goes to web (the
      // fallback), and both spellings of y.com are one server.
      expect(content.match(/server_name y\.com;/g)).toHaveLength(1);
      expect(content).not.toMatch(/server_name Y\.com;/);
      const x = content.slice(content.indexOf('server_name x.com;'));
      const xServer = x.slice(0, x.indexOf('\n}'));
      expect(xServer).toContain('location = /api {');
      expect(xServer.match(/location = \/api \{/g)).toHaveLength(1);
      // x.com/api/v1 is x.com's /api/ route in msup: not the any-host /api/v1.
      expect(xServer).not.toContain('location /api/v1/');
      expect(xServer).toContain('location / {');
    },
  );

  it.skipIf(nginxTool.skip)(
    'tunnels only a GET with Upgrade: websocket, as msup does; other upgrades go as plain requests',
    async () => {
      const { doc } = compose({ services: { web: { command: 'node s.js', port: 8081 } } });
      const instance = await headRecorder();
      const front = await runNginx(nginxTool.need(), doc.configs['msup-front'].content, instance.port);
      try {
        const msup = await proxy([instance.port]);
        const asks = [
          'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          'GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
            'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
          'GET /custom HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: custom/1\r\n\r\n',
          'POST /post HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n',
        ];
        // What the instance got for each, from the exported nginx and from msup's own front.
        const through = async (port: number) => {
          const statuses = [];
          for (const ask of asks) statuses.push(await statusOf(port, ask));
          const got = instance.seen.splice(0).map(({ line, headers }) => {
            const value = (name: string) => headers.find(([n]) => n === name)?.[1];
            return `${line.split(' ')[1]}: ${value('upgrade') ?? '-'} ${value('connection')?.toLowerCase() ?? '-'}`;
          });
          return { statuses, got: got.sort() };
        };
        const expected = {
          statuses: [
            'HTTP/1.1 101 Switching Protocols',
            'HTTP/1.1 200 OK',
            'HTTP/1.1 200 OK',
            'HTTP/1.1 200 OK',
          ],
          got: ['/custom: - -', '/h2c: - -', '/post: - -', '/ws: WebSocket upgrade'],
        };
        expect(await through(front.ports[0] as number)).toEqual(expected);
        // msup's pool keeps its connections alive (nginx sends no Connection to a keepalive upstream).
        const mine = await through(msup.port);
        expect(mine.statuses).toEqual(expected.statuses);
        expect(mine.got).toEqual(
          expected.got.map((g) => (g.endsWith('- -') ? g.replace(/-$/, 'keep-alive') : g)),
        );
      } finally {
        await front.stop();
      }
    },
  );

  it.skipIf(nginxTool.skip)(
    'sends a stripped prefix route the rest of the path as msup does: raw, not decoded or normalised',
    async () => {
      const routes = [
        { path: '/api', service: 'web', stripPrefix: true },
        { path: '/d$x', service: 'web', stripPrefix: true },
        { path: '/v1.0/', service: 'web', stripPrefix: true },
        { path: '/', service: 'web' },
      ];
      const { doc } = compose({
        proxy: { port: 8000, routes },
        services: { web: { command: 'node s.js', port: 8081 } },
      });
      const instance = await headRecorder();
      const front = await runNginx(nginxTool.need(), doc.configs['msup-front'].content, instance.port);
      const web = await proxy([instance.port]);
      const shared = new FrontProxy(routes, () => web.proxy);
      const sharedPort = await shared.listen(0);
      try {
        const paths = [
          '/api/pkgs/%40scope%2Fname',
          '/api//x',
          '/api/a/../b',
          '/api/a/./b?q=%2F&r=1',
          '/api',
          '/api/',
          '/api?q=1',
          '/api/x?y=a%20b',
          '/d$x/y?z',
          '/v1.0/y',
          '/v1x0/y',
          // Routed by nginx's location (decoded) but not by msup's prefix: goes on whole, as msup's / route sends it.
          '/%61pi/x',
          '/other/%2F?x',
        ];
        // The request lines the instance got, from the exported nginx and from msup's own front.
        const through = async (port: number) => {
          for (const p of paths) await statusOf(port, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
          return instance.seen.splice(0).map(({ line }) => line.split(' ')[1]);
        };
        const mine = await through(sharedPort);
        expect(mine).toEqual([
          '/pkgs/%40scope%2Fname',
          '//x',
          '/a/../b',
          '/a/./b?q=%2F&r=1',
          '/',
          '/',
          '/?q=1',
          '/x?y=a%20b',
          '/y?z',
          '/y',
          '/v1x0/y',
          '/%61pi/x',
          '/other/%2F?x',
        ]);
        expect(await through(front.ports[0] as number)).toEqual(mine);
      } finally {
        await shared.close();
        await front.stop();
      }
    },
  );
});

/** Runs a healthcheck's `CMD` (Compose's `$$` read back as `$`) against a server: the path it asked for, and its exit code. */
async function runHealthcheck(test: string[]): Promise<{ url: string | undefined; code: number | null }> {
  let url: string | undefined;
  const server = http.createServer((req, res) => {
    url = req.url;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const child = spawn(process.execPath, ['-e', (test[3] as string).replace(/\$\$/g, '$')], {
      env: { PORT: String((server.address() as AddressInfo).port) },
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { url, code };
  } finally {
    server.close();
  }
}

describe('the Compose services', () => {
  it('an http healthcheck asks for the path as written, quotes and all', async () => {
    // As a URL sends it (`"` as %22), not /a'b; and /it's no longer a syntax error in `node -e`.
    for (const path of ["/it's", '/a"b', '/$x?q="1"']) {
      const { doc } = compose({
        services: { web: { command: 'node s.js', port: 8080, readiness: { http: path } } },
      });
      expect(await runHealthcheck(doc.services.web.healthcheck.test)).toEqual({
        url: new URL(`http://h${path}`).href.slice('http://h'.length),
        code: 0,
      });
    }
  });

  it('every container runs under an init (as msup runs them), so PID 1 passes SIGTERM on', () => {
    const { doc } = compose({
      proxy: { port: 8000, routes: [{ path: '/', service: 'web' }] },
      services: { web: { command: 'node s.js', port: 8080 }, worker: { command: ['node', 'w.js'] } },
    });
    expect(validateCompose(doc)).toEqual([]);
    for (const name of ['web', 'worker', 'msup-front']) expect(doc.services[name].init).toBe(true);
  });

  it('the front waits for its targets to start, not to be healthy (they call each other through it)', () => {
    const { doc } = compose({
      proxy: { port: 8000, routes: [{ path: '/api', service: 'api' }] },
      services: {
        api: { command: 'node api.js', port: 8081, readiness: { http: '/health' } },
        // web's readiness calls api at MSUP_API_URL, which is the front: the front must not wait for web.
        web: {
          command: 'node web.js',
          port: 8080,
          readiness: { http: '/ready' },
          dependsOn: { api: 'ready' },
        },
      },
    });
    expect(validateCompose(doc)).toEqual([]);
    expect(doc.services.web.environment.MSUP_API_URL).toBe('http://msup-front:8081');
    expect(doc.services.web.depends_on).toEqual({ api: { condition: 'service_healthy' } });
    expect(doc.services['msup-front'].depends_on).toEqual({
      api: { condition: 'service_started' },
      web: { condition: 'service_started' },
    });
  });

  it('publishes the shared front on an IP address (the engines refuse a name): localhost is 127.0.0.1', () => {
    const published = (host: string) => {
      const { doc, warnings } = compose({
        proxy: { port: 8000, host, routes: [{ path: '/', service: 'web' }] },
        services: { web: { command: 'node s.js', port: 8081 } },
      });
      expect(validateCompose(doc)).toEqual([]);
      const ports = doc.services['msup-front'].ports as Doc[];
      const shared = ports.find((p) => p.published === '8000') as Doc;
      return { ip: shared.host_ip, warned: warnings.filter((w) => w.key === 'proxy.host') };
    };
    for (const [host, ip] of [
      ['localhost', '127.0.0.1'],
      ['LocalHost.', '127.0.0.1'],
      ['127.0.0.1', '127.0.0.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['::1', '::1'],
      ['[::1]', '::1'],
      ['::', '::'],
    ])
      expect(published(host as string), host).toEqual({ ip, warned: [] });
    // Another name: published on 127.0.0.1, named in a warning.
    expect(published('myhost.example')).toEqual({
      ip: '127.0.0.1',
      warned: [
        {
          key: 'proxy.host',
          message: expect.stringContaining(
            '"myhost.example" is a name: Compose publishes on an IP address only',
          ),
        },
      ],
    });
  });

  it('refuses a service named msup-front (the front would replace it, and depend on itself)', () => {
    let error: unknown;
    try {
      compose({ services: { 'msup-front': { command: 'node s.js', port: 8080 } } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MsupError);
    expect(error).toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      issues: [{ path: 'services.msup-front', message: expect.stringContaining('rename the service') }],
    });
    // Without a front (nothing published), the name is free.
    const { doc } = compose({ services: { 'msup-front': { command: 'node s.js' } } });
    expect(doc.services['msup-front'].entrypoint).toEqual(['node', 's.js']);
  });
});
