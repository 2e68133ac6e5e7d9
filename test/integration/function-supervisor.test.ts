// Functions in the real supervisor: a handler routed by the shared front beside a process service, its
// environments in status, scale from zero and back to zero; a whole config re-targeted with
// `runtime: 'function'`; the same handler served by the process runtime.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/types.js';
import { expectNoBodies } from '../helpers/function.js';
import { waitFor } from '../helpers/processes.js';
import { fixture, REPO, useProject } from '../helpers/project.js';

const fixtures = path.join(REPO, 'fixtures');
const details = (sup: { instances(name: string): { details?: Record<string, unknown> }[] }, name: string) =>
  sup.instances(name)[0]?.details as {
    environments: Record<string, number>;
    coldStarts: number;
    invocations: number;
    cost: { requests: number; gbSeconds: number; modelled: boolean };
  };

describe('functions in the supervisor', () => {
  const project = useProject();

  it('routes to a handler through the shared front, scales it from zero and back, and shows it in status', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: {
        proxy: {
          port: 0,
          routes: [
            { path: '/hello', service: 'hello' },
            { path: '/', service: 'web' },
          ],
        },
        services: p.config({
          web: { command: ['node', fixture('echo-server.js')], instances: 2 },
          hello: {
            handler: 'fns/hello.handler',
            cwd: fixtures,
            runtime: { function: { idleTimeout: '3s' } },
          },
        }).services,
      },
    });
    expect(sup.instances('hello')).toHaveLength(1); // one gateway
    expect(details(sup, 'hello').environments.warm).toBe(0);
    const front = sup.proxyUrl() as string;
    const cold = (await (await fetch(`${front}/hello/there?x=1`)).json()) as Record<string, unknown>;
    expect(cold).toMatchObject({ message: 'hello from a function', path: '/hello/there', invocations: 1 });
    const warm = (await (await fetch(`${front}/hello`)).json()) as Record<string, unknown>;
    expect(warm).toMatchObject({ invocations: 2, environment: cold.environment });
    expect((await (await fetch(`${front}/`)).json()) as Record<string, unknown>).toMatchObject({
      service: 'web',
    });

    const status = await sup.status();
    const hello = status.services.find((s) => s.name === 'hello')?.instances[0];
    expect(hello).toMatchObject({ runtime: 'function', ready: true, pid: null });
    expect(hello?.details).toMatchObject({
      coldStarts: 1,
      invocations: 2,
      environments: { warm: 1 },
      cost: { modelled: true, requests: 2 },
    });
    expect(hello?.memoryBytes).toBeGreaterThan(5_000_000); // the environment's memory

    // Back to zero once idle, then cold again.
    expect(await waitFor(() => details(sup, 'hello').environments.warm === 0, 20_000)).toBe(true);
    expect(details(sup, 'hello').environments.reaped).toBe(1);
    const again = (await (await fetch(`${front}/hello`)).json()) as Record<string, unknown>;
    expect(again.invocations).toBe(1);
    expect(details(sup, 'hello').coldStarts).toBe(2);
  });

  it("runs a whole config as functions with runtime: 'function'; a worker stays a process", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const logs: LogRecord[] = [];
    const sup = p.create({
      runtime: 'function',
      config: p.config({
        web: {
          command: ['node', fixture('echo-server.js')],
          instances: 3,
          port: 0,
          health: { http: '/health' },
        },
        worker: { command: ['node', fixture('worker.js')] },
      }),
    });
    sup.on('log', (record) => logs.push(record));
    await sup.start();
    expect(sup.instances('web').map((i) => i.runtime)).toEqual(['function']);
    expect(sup.instances('worker').map((i) => i.runtime)).toEqual(['process']);
    expect(logs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ service: 'worker', msg: expect.stringContaining('not run as function') }),
      ]),
    );
    const answers = await Promise.all(
      [1, 2, 3].map(
        async () => (await (await fetch(`${sup.url('web')}/slow?ms=200`)).json()) as { pid: number },
      ),
    );
    expect(new Set(answers.map((a) => a.pid)).size).toBe(3); // one request per environment at a time
    expect(details(sup, 'web')).toMatchObject({ coldStarts: 3, environments: { warm: 3 } });
  });

  it('serves the same handler under the process runtime, with the same event and mapping', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ fn: { handler: 'fns/behave.handler', cwd: fixtures, port: 0, instances: 2 } }),
    });
    expect(sup.instances('fn').map((i) => i.runtime)).toEqual(['process', 'process']);
    const echo = (await (
      await fetch(`${sup.url('fn')}/echo?a=1&a=2`, { headers: { cookie: 'k=v' } })
    ).json()) as Record<string, unknown>;
    expect(echo).toMatchObject({
      version: '2.0',
      rawPath: '/echo',
      queryStringParameters: { a: '1,2' },
      cookies: ['k=v'],
    });
    const cookies = await fetch(`${sup.url('fn')}/cookies`);
    expect(cookies.status).toBe(201);
    expect(cookies.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect((await fetch(`${sup.url('fn')}/throw`)).status).toBe(502);
  });

  it('sends no body (nor Content-Length) for a 204 through the front in process, nor for a HEAD', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: {
        proxy: { port: 0, routes: [{ path: '/', service: 'fn' }] },
        services: p.config({ fn: { handler: 'fns/behave.handler', cwd: fixtures, runtime: 'function' } })
          .services,
      },
    });
    await expectNoBodies(sup.proxyUrl() as string);
  });
});
