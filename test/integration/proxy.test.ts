// The real supervisor on fixtures, through the real proxy over loopback.
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson, request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

interface Echo {
  service: string;
  instance: number;
  pid: number;
  port: number;
  instances: number;
  headers: Record<string, string>;
}

describe('proxy', () => {
  it('spreads requests round robin over 3 instances, one request at a time', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 3, port: 0, health: { http: '/health' } },
      }),
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) seen.push((await getJson<Echo>(`${sup.url('web')}/`, agent)).instance);
    agent.destroy();
    // Per request, not per connection: one keep-alive connection still visits every instance in turn.
    const counts = [0, 1, 2].map((i) => seen.filter((s) => s === i).length);
    expect(counts).toEqual([10, 10, 10]);
    for (let i = 3; i < seen.length; i++) expect(seen[i]).toBe(seen[i - 3]);
  });

  it('gives each instance PORT, MSUP_SERVICE, MSUP_INSTANCE and MSUP_INSTANCES', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ api: { command: node('echo-server.js'), instances: 2, port: 0 } }),
    });
    const replies = [await getJson<Echo>(sup.url('api')), await getJson<Echo>(sup.url('api'))];
    const infos = sup.instances('api');
    expect(new Set(replies.map((r) => r.instance))).toEqual(new Set([0, 1]));
    for (const reply of replies) {
      expect(reply.service).toBe('api');
      expect(reply.instances).toBe(2);
      expect(reply.port).toBe(infos[reply.instance]?.port);
      expect(reply.pid).toBe(infos[reply.instance]?.pid);
    }
  });

  it('loses no GET when an instance is SIGKILLed under sequential load, and restarts it', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 3, port: 0, health: { http: '/health' } },
      }),
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const victim = sup.instances('web')[1]!;
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) {
      if (i === 20) process.kill(victim.pid!, 'SIGKILL');
      statuses.push((await request(`${sup.url('web')}/`, { agent })).status);
    }
    agent.destroy();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await waitFor(() => sup.instances('web').every((i) => i.ready), 10_000)).toBe(true);
    const after = sup.instances('web')[1]!;
    expect(after.restarts).toBe(1);
    expect(after.pid).not.toBe(victim.pid);
    expect(after.lastExit?.signal).toBe('SIGKILL');
  });

  it('answers 503 with Retry-After while no instance is ready', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({
        slow: {
          command: node('slow-start.js'),
          port: 0,
          env: { START_DELAY_MS: 60_000 },
          holdTimeout: '300ms',
        },
      }),
    });
    const reply = await request(sup.url('slow'));
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.body).toContain('no ready instance of slow');
  });

  it('answers 502 when the instance drops a request it cannot retry, and stays up', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ web: { command: node('echo-server.js'), port: 0 } }) });
    const dropped = await request(`${sup.url('web')}/destroy`, { method: 'POST', body: 'payload' });
    expect(dropped.status).toBe(502);
    expect(dropped.body).toContain('web#0 failed');
    expect((await request(sup.url('web'))).status).toBe(200);
  });

  it('sets X-Forwarded-For, -Proto and -Host and keeps Host', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ web: { command: node('echo-server.js'), port: 0 } }) });
    const front = new URL(sup.url('web'));
    const echo = await getJson<Echo>(sup.url('web'));
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe(front.host);
    expect(echo.headers.host).toBe(front.host);
  });

  it('answers a malformed request with 400 and keeps serving', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ web: { command: node('echo-server.js'), port: 0 } }) });
    const { port } = new URL(sup.url('web'));
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect((await request(sup.url('web'))).status).toBe(200);
  });

  it('pipes WebSocket upgrades to an instance', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ ws: { command: node('echo-server.js'), instances: 2, port: 0 } }),
    });
    const socket = new WebSocket(sup.url('ws').replace('http', 'ws'));
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('open', () => socket.send('ping'));
      socket.on('message', (data) => {
        messages.push(String(data));
        if (messages.length === 1) socket.send('pong');
        else resolve();
      });
      socket.on('error', reject);
    });
    socket.close();
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/^ws#[01]: ping$/);
    // One connection stays on one instance.
    expect(messages[1]).toBe(messages[0]!.replace('ping', 'pong'));
  });
});
