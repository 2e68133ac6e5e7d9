// The shared front (routes by host and path prefix) and TCP mode, through the real supervisor.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson, request } from '../helpers/http.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

interface Echo {
  service: string;
  instance: number;
  path: string;
  headers: Record<string, string>;
}

/** Connects, reads the greeting line, sends a line, and returns both answers. */
function talk(port: number, line: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => {
      data += d;
      const lines = data.split('\n').filter(Boolean);
      if (lines.length === 1 && data.endsWith('\n')) socket.write(`${line}\n`);
      if (lines.length === 2) {
        socket.end();
        resolve(lines);
      }
    });
    socket.on('error', reject);
  });
}

describe('shared front', () => {
  it('routes by longest path prefix and by host, strips prefixes, and explains a 404', async () => {
    const p = project();
    const config = p.config({
      web: { command: node('echo-server.js'), instances: 2, port: 0 },
      api: { command: node('echo-server.js'), instances: 2 }, // reached only through the front
      admin: { command: node('echo-server.js') },
    });
    const sup = await p.start({
      config: {
        ...config,
        proxy: {
          port: 0,
          routes: [
            { path: '/', service: 'web' },
            { path: '/api', service: 'api', stripPrefix: true },
            { path: '/api/admin', service: 'admin' },
            { host: 'admin.localhost', service: 'admin' },
          ],
        },
      },
    });
    const front = sup.proxyUrl()!;
    expect(front).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const api = await getJson<Echo>(`${front}/api/users?id=7`);
    expect(api).toMatchObject({ service: 'api', path: '/users?id=7' });
    expect(await getJson<Echo>(`${front}/api/admin/x`)).toMatchObject({
      service: 'admin',
      path: '/api/admin/x',
    });
    expect(await getJson<Echo>(`${front}/apix`)).toMatchObject({ service: 'web', path: '/apix' });
    const byHost = await request(`${front}/api/users`, { headers: { host: 'Admin.localhost:1234' } });
    expect(JSON.parse(byHost.body)).toMatchObject({ service: 'admin', path: '/api/users' });
    // Round robin per request behind the front too.
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) seen.add((await getJson<Echo>(`${front}/api/`)).instance);
    expect(seen).toEqual(new Set([0, 1]));
    expect(sup.proxyStats('api')[0]?.requests).toBeGreaterThan(0);
    // WebSocket upgrades are routed the same way.
    const socket = new WebSocket(`${front.replace('http', 'ws')}/api/socket`);
    const answer = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hi'));
      socket.on('message', (data) => resolve(String(data)));
      socket.on('error', reject);
    });
    socket.close();
    expect(answer).toMatch(/^api#[01]: hi$/);
  });

  it('answers 404 with the list of routes when nothing matches', async () => {
    const p = project();
    const config = p.config({ api: { command: node('echo-server.js') } });
    const sup = await p.start({
      config: { ...config, proxy: { port: 0, routes: [{ path: '/api', service: 'api' }] } },
    });
    const reply = await request(`${sup.proxyUrl()}/nope`);
    expect(reply.status).toBe(404);
    expect(reply.body).toContain('no route for 127.0.0.1/nope');
    expect(reply.body).toContain('*/api -> api');
  });
});

describe('tcp mode', () => {
  it('balances connections round robin at layer 4, for any protocol', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ db: { command: node('tcp-echo.js'), instances: 2, port: 0, mode: 'tcp' } }),
    });
    const port = Number(new URL(sup.url('db')).port);
    const answers: string[][] = [];
    for (let i = 0; i < 4; i++) answers.push(await talk(port, `line ${i}`));
    // Per connection, in turn; which instance comes first depends on which was ready first.
    const greetings = answers.map((a) => a[0]);
    expect(new Set(greetings)).toEqual(new Set(['hello from db#0', 'hello from db#1']));
    expect(greetings[2]).toBe(greetings[0]);
    expect(greetings[3]).toBe(greetings[1]);
    const second = greetings[1]!.replace('hello from ', '');
    expect(answers[1]![1]).toBe(`${second}: line 1`);
    expect(sup.proxyStats('db')).toMatchObject({ 0: { requests: 2 }, 1: { requests: 2 } });
  });
});
