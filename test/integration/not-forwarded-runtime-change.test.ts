// Whether the front believes a 503 with x-msup-not-forwarded ("the app never got this request") is a
// property of the instance that answered, not of the service's current config: a reload that moves a
// service to or from the sidecar runtime replaces its instances one at a time, and a replacement that
// fails leaves the old instances serving under the old runtime.
import { describe, expect, it } from 'vitest';
import type { OutputLine } from '../../src/types.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

/** An app that executes every POST (and says so), then answers 503 with x-msup-not-forwarded: its own. */
const APP = `import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  if (req.url === '/mark') {
    console.log('mark');
    return res.end('mark');
  }
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST') console.log('executed ' + req.url);
    res.writeHead(503, { 'x-msup-not-forwarded': '1' });
    res.end('the app is busy\\n');
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('x-msup-not-forwarded across a reload that changes the runtime', () => {
  it("passes on a process instance's own 503 after a reload to the sidecar runtime failed to roll out", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    p.write('app.mjs', APP);
    const write = (api: Record<string, unknown>) =>
      p.writeConfig({ api: { instances: 2, port: 0, maxFails: 0, health: { http: '/health' }, ...api } });
    write({ command: [process.execPath, 'app.mjs'] });
    const sup = p.create({ configFile: 'supervisor.config.json', watch: false });
    const executed: string[] = [];
    const marked = new Set<number>();
    sup.on('output', (line: OutputLine) => {
      if (line.service !== 'api' || line.source) return;
      if (line.line.startsWith('executed')) executed.push(line.line);
      if (line.line === 'mark') marked.add(line.index);
    });
    await sup.start();
    // The new config runs api with sidecars, and its app does not start: the rollout fails on api#0 and
    // both process instances keep serving.
    write({ runtime: 'sidecar', command: node('crash-on-start.js') });
    const result = await sup.reload();
    expect(result.restarted).toEqual(['api']);
    expect(sup.instances('api').map((i) => [i.runtime, i.ready])).toEqual([
      ['process', true],
      ['process', true],
    ]);

    const reply = await request(`${sup.url('api')}/order`, { method: 'POST', body: 'one order' });
    // Each app's output read up to a mark it printed after the POST: every execution is counted.
    expect(
      await waitFor(async () => {
        await request(`${sup.url('api')}/mark`);
        return marked.size === 2;
      }),
    ).toBe(true);
    // The POST an app executed is not sent to the other instance; the app's own answer is passed on.
    expect(executed).toEqual(['executed /order']);
    expect([reply.status, reply.body]).toEqual([503, 'the app is busy\n']);
  });
});
