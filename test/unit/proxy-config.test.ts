// The load-balancing keys and the shared front in the config: checks, messages and defaults.
import { describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';

const messages = (input: unknown) => {
  const result = validateConfig(input);
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('load-balancing config', () => {
  it('accepts the documented keys', () => {
    expect(
      messages({
        services: {
          web: {
            command: 'x',
            instances: 2,
            port: 8080,
            strategy: 'least-request',
            weights: [3, 1],
            holdTimeout: '3s',
            maxFails: 2,
            failTimeout: '5s',
            responseTimeout: '30s',
          },
          api: { command: 'x' },
          db: { command: 'x', port: 5432, mode: 'tcp' },
        },
        proxy: {
          port: 8000,
          host: '127.0.0.1',
          headersTimeout: '5s',
          routes: [
            { path: '/api', service: 'api', stripPrefix: true },
            { host: 'web.localhost', service: 'web' },
          ],
        },
      }),
    ).toEqual([]);
  });

  it('names every problem with its path', () => {
    expect(
      messages({
        services: {
          web: { command: 'x', port: 8000, mode: 'udp', strategy: 'random', weights: [1, 0], maxFails: -1 },
          db: { command: 'x', mode: 'tcp', weights: [1, 1] },
        },
        proxy: {
          port: 8000,
          routes: [
            { path: 'api', service: 'web' },
            { service: 'web' },
            { path: '/x', service: 'nope' },
            { path: '/db', service: 'db' },
            { path: '/db/', service: 'web' },
          ],
        },
      }),
    ).toEqual(
      expect.arrayContaining([
        'services.web.mode: expected "http" or "tcp", got "udp"',
        'services.web.strategy: expected "round-robin" or "least-request", got "random"',
        'services.web.weights: expected a non-empty array of positive integers, one per instance index, got [1,0]',
        'services.web.maxFails: expected an integer of at least 0, got -1',
        'proxy.routes.0.path: expected a path prefix starting with "/", got "api"',
        'proxy.routes.1: expected "path", "host" or both',
        'services.db.weights: 2 weights for 1 instance',
        'proxy.port: port 8000 is already the front port of service "web"',
        'proxy.routes.2.service: no service "nope" (services: web, db)',
        'proxy.routes.3.service: service "db" is in tcp mode; the shared front routes HTTP only',
        'proxy.routes.4: the same host and path as an earlier route',
      ]),
    );
    expect(
      messages({ services: { a: { command: 'x' } }, proxy: { routes: [{ path: '/', service: 'a' }] } }),
    ).toEqual(['proxy.port: the shared front needs a port when it has routes']);
  });

  it('fills in defaults, and gives a service reached only through the front a tcp probe', () => {
    const config = prepareConfig(
      {
        services: { web: { command: 'x', port: 0 }, api: { command: 'x' }, worker: { command: 'x' } },
        proxy: { port: 0, routes: [{ path: '/api', service: 'api' }] },
      },
      '/p',
      null,
    );
    const [web, api, worker] = config.services;
    expect(web?.balancing).toEqual({
      mode: 'http',
      strategy: 'round-robin',
      weights: [],
      holdTimeoutMs: 5000,
      maxFails: 1,
      failTimeoutMs: 10_000,
      responseTimeoutMs: 60_000,
      maxConnections: null,
    });
    expect(api?.port).toBeNull();
    expect(api?.health?.probe).toEqual({ kind: 'tcp' });
    expect(worker?.health).toBeNull();
    expect(config.proxy).toEqual({
      port: 0,
      host: null,
      routes: [{ path: '/api', service: 'api', stripPrefix: false }],
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 10_000,
      maxConnections: null,
    });
  });
});
