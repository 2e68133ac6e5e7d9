// Which unix socket docker's engine API is at, as the docker command line finds it: DOCKER_HOST, else
// DOCKER_CONTEXT, else the config's current context, else /var/run/docker.sock. A context's endpoint is
// in $DOCKER_CONFIG/contexts/meta/<sha256 of its name>/meta.json. msup's API client speaks over a unix
// socket only: a tcp:// or ssh:// endpoint is refused, naming it (the command line would follow it, and
// the two would talk to different engines). Pure but for the reads it is given.
import { createHash } from 'node:crypto';
import path from 'node:path';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export type DockerEndpoint = { socket: string; from: string } | { unsupported: string; from: string };

function unixPath(host: string, from: string): DockerEndpoint {
  return host.startsWith('unix://')
    ? { socket: host.slice('unix://'.length), from }
    : { unsupported: host, from };
}

/**
 * `env` is the process environment, `home` the user's home folder, `read` a file reader that returns
 * null for a file that is not there (or not readable).
 */
export function dockerEndpoint(
  env: Record<string, string | undefined>,
  home: string,
  read: (file: string) => string | null,
): DockerEndpoint {
  const host = env.DOCKER_HOST;
  if (host) return unixPath(host, 'DOCKER_HOST');
  const configDir = env.DOCKER_CONFIG || path.join(home, '.docker');
  let context = env.DOCKER_CONTEXT;
  let from = 'DOCKER_CONTEXT';
  if (!context) {
    const config = parse(read(path.join(configDir, 'config.json')));
    context = typeof config?.currentContext === 'string' ? config.currentContext : undefined;
    from = `the current context in ${path.join(configDir, 'config.json')}`;
  }
  if (!context || context === 'default') return { socket: DEFAULT_DOCKER_SOCKET, from: 'the default' };
  const id = createHash('sha256').update(context).digest('hex');
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  const meta = parse(read(metaFile)) as { Endpoints?: { docker?: { Host?: unknown } } } | null;
  const endpoint = meta?.Endpoints?.docker?.Host;
  if (typeof endpoint !== 'string') {
    return { unsupported: `context "${context}" (no endpoint in ${metaFile})`, from };
  }
  return unixPath(endpoint, `context "${context}" (${from})`);
}

function parse(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
