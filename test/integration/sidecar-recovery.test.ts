// An app that dies under its sidecar: the requests it had in flight reach the front as a failed attempt
// (the sidecar cuts the connection), not as a 502 answer, so the front sends the GETs on to another
// instance as it does when a process dies, and a POST, which the app may have acted on, is not sent twice.
// Requests that reach the sidecar after its app died never reach an app: the sidecar answers 503 with
// x-msup-not-forwarded, and the front sends them, POSTs and their bodies included, to another instance.
import { describe, expect, it } from 'vitest';
import type { OutputLine } from '../../src/types.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('sidecar runtime, an app killed', () => {
  it('sends the GETs in flight on a killed app to another instance, and a POST nowhere', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({
        api: { command: node('echo-server.js'), instances: 2, port: 0, health: { http: '/health' } },
      }),
    });
    const held: string[] = [];
    sup.on('output', (line: OutputLine) => {
      if (line.service === 'api' && line.index === 0 && !line.source && line.line.startsWith('holding'))
        held.push(line.line);
    });
    // Requests that only api#0 holds (api#1 answers them at once): sent one by one until `count` of
    // them are held by api#0's app, whatever the balancer's order.
    const slow = '/slow?ms=600000&instance=0';
    const pending: Promise<{ status: number; body: string }>[] = [];
    const hold = async (count: number, method: 'GET' | 'POST') => {
      const goal = held.length + count;
      while (held.length < goal) {
        const before = held.length;
        const reply = request(`${sup.url('api')}${slow}`, {
          method,
          ...(method === 'POST' && { body: 'once' }),
        });
        const outcome = await Promise.race([
          reply.then(() => 'answered'),
          waitFor(() => held.length > before, 10_000).then((ok) => (ok ? 'held' : 'neither')),
        ]);
        if (outcome === 'neither') throw new Error('a request was neither answered nor held within 10 s');
        if (outcome === 'held') pending.push(reply);
      }
    };
    await hold(1, 'POST');
    await hold(3, 'GET');
    expect(held).toEqual([`holding POST ${slow}`, ...Array(3).fill(`holding GET ${slow}`)]);

    const app = sup.instances('api')[0]?.pid as number;
    process.kill(app, 'SIGKILL');
    const [post, ...gets] = await Promise.all(pending);
    // The GETs: answered by api#1 (before the fix, 502 from api#0's sidecar: "the app did not answer").
    for (const get of gets) {
      expect(get.status).toBe(200);
      expect(JSON.parse(get.body)).toMatchObject({ service: 'api', instance: 1, method: 'GET' });
    }
    // The POST reached the app that died: the front does not send it again (as in process mode).
    expect(post?.status).toBe(502);
    expect(
      await waitFor(() => sup.instances('api').every((i) => i.ready) && sup.instances('api')[0]?.pid !== app),
    ).toBe(true);
  });

  it("sends POSTs that reach a killed app's sidecar to a live instance, bodies and all: none lost", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    // The app is a child of a wrapper (as with `npm start`) that lingers once it died: api#0's sidecar
    // and msup both stay up, and api#0 stays in rotation until its health checks fail, while its app
    // refuses every connection.
    const wrapped = ['sh', '-c', '"$0" "$1"; exec sleep 60', ...node('echo-server.js')];
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ api: { command: wrapped, instances: 2, port: 0, health: { http: '/health' } } }),
    });
    // api#0's app: its pid, from its own answer.
    let app = 0;
    expect(
      await waitFor(async () => {
        const reply = JSON.parse((await request(`${sup.url('api')}/`)).body);
        if (reply.instance === 0) app = reply.pid;
        return app !== 0;
      }),
    ).toBe(true);
    process.kill(app, 'SIGKILL');
    const sent = Array.from({ length: 20 }, (_, i) => `post ${i} `.repeat(200 * (i + 1)));
    const replies = await Promise.all(
      sent.map((body) => request(`${sup.url('api')}/echo`, { method: 'POST', body })),
    );
    // Every POST answered by api#1's app with the body it was sent, none lost, no header passed on; some
    // went to api#0's sidecar first (a failed attempt there, then a retry on api#1).
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    replies.forEach((reply, i) => {
      expect(reply.headers['x-msup-not-forwarded']).toBeUndefined();
      expect(JSON.parse(reply.body)).toMatchObject({ instance: 1, method: 'POST', body: sent[i] });
    });
    const stats = sup.proxyStats('api');
    expect(stats[0]?.errors).toBeGreaterThan(0);
    expect(stats[1]?.retries).toBe(stats[0]?.errors);
  });
});
