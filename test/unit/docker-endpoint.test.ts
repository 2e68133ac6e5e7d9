// Where docker's engine API is, found as the docker command line finds it: DOCKER_HOST, DOCKER_CONTEXT, the
// config's current context (rootless docker is usually one), else the default socket.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DOCKER_SOCKET, dockerEndpoint } from '../../src/runtime/container/docker-endpoint.js';

const meta = (name: string) =>
  `/home/u/.docker/contexts/meta/${createHash('sha256').update(name).digest('hex')}/meta.json`;

function files(entries: Record<string, unknown>) {
  return (file: string) => (file in entries ? JSON.stringify(entries[file]) : null);
}

const rootless = {
  [meta('rootless')]: {
    Name: 'rootless',
    Endpoints: { docker: { Host: 'unix:///run/user/1000/docker.sock' } },
  },
  [meta('remote')]: { Name: 'remote', Endpoints: { docker: { Host: 'ssh://me@far' } } },
};

describe('the docker endpoint', () => {
  it('is the default socket with nothing set, or with the default context', () => {
    expect(dockerEndpoint({}, '/home/u', files({}))).toMatchObject({ socket: DEFAULT_DOCKER_SOCKET });
    const config = { '/home/u/.docker/config.json': { currentContext: 'default' } };
    expect(dockerEndpoint({}, '/home/u', files(config))).toMatchObject({ socket: DEFAULT_DOCKER_SOCKET });
  });

  it("follows the current context of the config, and DOCKER_CONTEXT over it (a context's unix socket)", () => {
    const config = { '/home/u/.docker/config.json': { currentContext: 'rootless' }, ...rootless };
    expect(dockerEndpoint({}, '/home/u', files(config))).toMatchObject({
      socket: '/run/user/1000/docker.sock',
    });
    expect(dockerEndpoint({ DOCKER_CONTEXT: 'default' }, '/home/u', files(config))).toMatchObject({
      socket: DEFAULT_DOCKER_SOCKET,
    });
  });

  it('takes DOCKER_HOST first, and refuses what is not a unix socket, naming where it came from', () => {
    expect(dockerEndpoint({ DOCKER_HOST: 'unix:///tmp/d.sock' }, '/home/u', files({}))).toEqual({
      socket: '/tmp/d.sock',
      from: 'DOCKER_HOST',
    });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }, '/home/u', files({}))).toEqual({
      unsupported: 'tcp://10.0.0.1:2375',
      from: 'DOCKER_HOST',
    });
    expect(dockerEndpoint({ DOCKER_CONTEXT: 'remote' }, '/home/u', files(rootless))).toMatchObject({
      unsupported: 'ssh://me@far',
    });
    expect(dockerEndpoint({ DOCKER_CONTEXT: 'gone' }, '/home/u', files(rootless))).toMatchObject({
      unsupported: expect.stringContaining('context "gone" (no endpoint'),
    });
  });

  it('reads the config from DOCKER_CONFIG when it is set', () => {
    const config = {
      '/etc/dc/config.json': { currentContext: 'x' },
      [`/etc/dc/contexts/meta/${createHash('sha256').update('x').digest('hex')}/meta.json`]: {
        Endpoints: { docker: { Host: 'unix:///x.sock' } },
      },
    };
    expect(dockerEndpoint({ DOCKER_CONFIG: '/etc/dc' }, '/home/u', files(config))).toMatchObject({
      socket: '/x.sock',
    });
  });
});
