// The Compose export's one published front: an nginx config that does what msup's fronts do (the shared
// front's routes, each service's front port, balancing over every replica of a service). Pure.
import { isIP } from 'node:net';
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { balancingWarnings, containerPort, type Warnings } from './common.js';

export interface FrontPort {
  /** The port nginx listens on inside its container, published on the host as `published`. */
  target: number;
  /** The host port: msup's, or null for any (msup's 0). */
  published: number | null;
  hostIp: string;
}

/**
 * The address Compose publishes the shared front on, from `proxy.host` (what msup's front listens on):
 * Docker and podman take an IP address only (`host_ip: localhost`: "cannot parse "localhost" as an IP
 * address"). localhost is 127.0.0.1, `[::1]` is ::1; another name (`named`) is published on 127.0.0.1,
 * with a warning.
 */
export function publishAddress(host: string | null): { ip: string; named: boolean } {
  if (host === null) return { ip: '127.0.0.1', named: false };
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return { ip: bare, named: false };
  if (/^localhost\.?$/i.test(host)) return { ip: '127.0.0.1', named: false };
  return { ip: '127.0.0.1', named: true };
}

/** The ports nginx listens on: the shared front's, then each HTTP service's front port (0: one of 8080 up). */
export function frontPorts(config: ResolvedConfig): {
  shared: FrontPort | null;
  services: Map<string, FrontPort>;
} {
  const used = new Set<number>();
  for (const s of config.services) if (s.port) used.add(s.port);
  if (config.proxy.port) used.add(config.proxy.port);
  let next = 8080;
  const pick = (port: number | null): number => {
    if (port) return port;
    while (used.has(next)) next++;
    used.add(next);
    return next;
  };
  const shared =
    config.proxy.routes.length > 0
      ? {
          target: pick(config.proxy.port),
          published: config.proxy.port || null,
          hostIp: publishAddress(config.proxy.host).ip,
        }
      : null;
  const services = new Map<string, FrontPort>();
  for (const s of config.services)
    if (s.port !== null && s.balancing.mode === 'http')
      services.set(s.name, { target: pick(s.port), published: s.port || null, hostIp: '127.0.0.1' });
  return { shared, services };
}

/**
 * Each service's upstream name, one per service: `msup_<index>_<name>`. The index keeps it unique (nginx
 * compares upstream names case-insensitively; `a-b`, `a_b` and `a.b` read alike with only `\w` kept).
 */
type Upstreams = ReadonlyMap<string, string>;
function upstreamNames(config: ResolvedConfig): Upstreams {
  return new Map(
    config.services.map((s, i) => [s.name, `msup_${i}_${s.name.replace(/[^A-Za-z0-9]/g, '_')}`]),
  );
}

/** A route's prefix as msup's router reads it: `/` for none, no trailing slash (`/api/` is `/api`). */
function prefixOf(path: string | undefined): string {
  if (!path || path === '/') return '/';
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Whether msup's prefix `outer` matches every path that `inner` matches (on a segment boundary). */
const covers = (outer: string, inner: string) =>
  outer === '/' || inner === outer || inner.startsWith(`${outer}/`);

function upstreamBlock(service: ResolvedService, upstreams: Upstreams): string {
  const b = service.balancing;
  const lines = [`upstream ${upstreams.get(service.name)} {`];
  if (b.strategy === 'least-request') lines.push('  least_conn;');
  const passive =
    b.maxFails === 0
      ? ' max_fails=0'
      : ` max_fails=${b.maxFails} fail_timeout=${Math.ceil(b.failTimeoutMs / 1000)}s`;
  // Docker's DNS answers the service name with every replica's address; nginx balances over them all.
  lines.push(`  server ${service.name}:${containerPort(service)}${passive};`, '  keepalive 16;', '}');
  return lines.join('\n');
}

function proxyTo(service: ResolvedService, upstreams: Upstreams, rest = ''): string[] {
  const timeout = service.balancing.responseTimeoutMs;
  return [
    `    proxy_pass http://${upstreams.get(service.name)}${rest};`,
    `    proxy_read_timeout ${timeout > 0 ? `${Math.ceil(timeout / 1000)}s` : '1d'};`,
  ];
}

/**
 * A path as one nginx word: as it is when nothing in it means something to nginx's parser, else in
 * double quotes (`;`, `{`, `#`, a quote in a route's path broke the whole front's config).
 */
export function nginxString(text: string): string {
  if (/^[A-Za-z0-9/._~%!&()*+,=:@-]+$/.test(text)) return text;
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The variable holding, for each prefix that a route strips, the rest of the request's path and query as
 * msup sends it (`/api?q` is `/?q`, `/api//x` is `//x`). It is cut from `$request_uri`, the raw target:
 * a `proxy_pass` with a URI part would send nginx's decoded, normalised path instead (`%2F` as `/`, `//`
 * merged, `..` resolved). A `proxy_pass` with a variable sends its URI as is (with no query added) and
 * still finds the upstream{} block by name, with no resolver.
 */
type Strips = ReadonlyMap<string, string>;
function stripVariables(config: ResolvedConfig): Strips {
  const prefixes = config.proxy.routes.flatMap((r) => {
    const prefix = prefixOf(r.path);
    return r.stripPrefix && prefix !== '/' ? [prefix] : [];
  });
  return new Map([...new Set(prefixes)].map((prefix, i) => [prefix, `$msup_rest_${i}`]));
}

/**
 * The map of a stripped prefix: msup's router matches the raw target on a segment boundary (the prefix,
 * then `/`, `?`, `#` or the end). A target that nginx's location matches only once decoded or normalised
 * (`/%61pi/x`, `/x/../api/y`) is one msup's route would not match: it goes on unstripped (the empty value).
 */
function stripMap(prefix: string, variable: string): string {
  const pattern = `~^${prefix.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')}(?:/(.*)|([?#].*))?$`;
  return `map $request_uri ${variable} { ${nginxString(pattern)} /$1$2; default ""; }`;
}

function locations(
  routes: ResolvedConfig['proxy']['routes'],
  byName: Map<string, ResolvedService>,
  upstreams: Upstreams,
  strips: Strips,
): string[] {
  const out: string[] = [];
  for (const route of routes) {
    const target = byName.get(route.service) as ResolvedService;
    const prefix = prefixOf(route.path);
    if (prefix === '/') {
      out.push('  location / {', ...proxyTo(target, upstreams), '  }');
      continue;
    }
    // msup's prefix matches on a segment boundary: /api and /api/..., not /apix.
    const rest = route.stripPrefix ? (strips.get(prefix) as string) : '';
    out.push(`  location = ${nginxString(prefix)} {`, ...proxyTo(target, upstreams, rest), '  }');
    out.push(`  location ${nginxString(`${prefix}/`)} {`, ...proxyTo(target, upstreams, rest), '  }');
  }
  return out;
}

function server(port: number, name: string | null, body: string[], headersTimeoutMs: number): string {
  return [
    'server {',
    `  listen ${port}${name ? '' : ' default_server'};`,
    ...(name ? [`  server_name ${name};`] : []),
    `  client_header_timeout ${Math.ceil(headersTimeoutMs / 1000)}s;`,
    ...body,
    '}',
  ].join('\n');
}

/** The nginx config (conf.d/default.conf) of the front, or null when nothing is published. */
export function nginxFront(config: ResolvedConfig, warnings: Warnings): string | null {
  const { shared, services } = frontPorts(config);
  if (!shared && services.size === 0) return null;
  const byName = new Map(config.services.map((s) => [s.name, s]));
  const upstreams = upstreamNames(config);
  const strips = stripVariables(config);
  const balanced = config.services.filter(
    (s) => services.has(s.name) || config.proxy.routes.some((r) => r.service === s.name),
  );
  for (const s of balanced)
    balancingWarnings(s, warnings, 'nginx', ['strategy', 'maxFails', 'failTimeoutMs', 'responseTimeoutMs']);
  if (shared && publishAddress(config.proxy.host).named)
    warnings.add(
      'proxy.host',
      `"${config.proxy.host}" is a name: Compose publishes on an IP address only, so the front is published on 127.0.0.1 (put the address you mean in host_ip)`,
    );
  for (const s of config.services)
    if (s.port !== null && s.balancing.mode === 'tcp')
      warnings.add(
        `services.${s.name}.mode`,
        '"tcp": the Compose front is HTTP only; this service has no published front',
      );
  const blocks = [
    "# Generated by msup export: msup's fronts as nginx, in front of every replica.",
    // As msup: only a GET with `Upgrade: websocket` is tunnelled. Any other upgrade (h2c, a custom one)
    // goes as a plain request without Upgrade (nginx sends no header whose value is empty), so no
    // instance is reached over another protocol behind the front's back.
    'map "$request_method:$http_upgrade" $msup_upgrade { ~*^GET:websocket$ $http_upgrade; default ""; }',
    'map $msup_upgrade $msup_connection { "" ""; default upgrade; }',
    'proxy_http_version 1.1;',
    'proxy_set_header Host $http_host;',
    'proxy_set_header Upgrade $msup_upgrade;',
    'proxy_set_header Connection $msup_connection;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header X-Forwarded-Host $host;',
    'proxy_set_header X-Forwarded-Port $server_port;',
    'proxy_buffering off;',
    ...[...strips].map(([prefix, variable]) => stripMap(prefix, variable)),
    ...balanced.map((s) => upstreamBlock(s, upstreams)),
  ];
  const headers = config.proxy.headersTimeoutMs;
  if (shared) {
    const routes = config.proxy.routes;
    const anyHost = routes.filter((r) => r.host === undefined);
    blocks.push(server(shared.target, null, locations(anyHost, byName, upstreams, strips), headers));
    // msup compares hosts case-insensitively: X.com and x.com are one server.
    for (const host of new Set(routes.flatMap((r) => (r.host ? [r.host.toLowerCase()] : [])))) {
      const own = routes.filter((r) => r.host?.toLowerCase() === host);
      // A host's routes come first: msup falls back to a route without a host only for a path that none
      // of the host's prefixes matches (so no any-host prefix under one of them is kept).
      const prefixes = own.map((r) => prefixOf(r.path));
      const fallback = anyHost.filter((r) => !prefixes.some((p) => covers(p, prefixOf(r.path))));
      blocks.push(
        server(shared.target, host, locations([...own, ...fallback], byName, upstreams, strips), headers),
      );
    }
  }
  for (const [name, port] of services) {
    const service = byName.get(name) as ResolvedService;
    blocks.push(
      server(port.target, null, ['  location / {', ...proxyTo(service, upstreams), '  }'], headers),
    );
  }
  return `${blocks.join('\n')}\n`;
}
