// A sidecar's outbound side takes a 503 with x-msup-not-forwarded as a failed connect (and sends even a
// POST to another instance) only from a peer's sidecar: from a peer that runs without one (another
// runtime), the header is that app's own, and the POST it executed must not be sent again.
import { describe, expect, it } from 'vitest';
import type { OutputLine } from '../../src/types.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

/** Executes every POST (and says so), then answers 503 with x-msup-not-forwarded: its own. */
const API = `import http from 'node:http';
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

/** POSTs /order to api through its sidecar (MSUP_API_URL) and answers with the status it got. */
const CALLER = `import http from 'node:http';
http.createServer(async (req, res) => {
  if (req.url === '/health') return res.end('ok');
  const answer = await fetch(process.env.MSUP_API_URL + '/order', { method: 'POST', body: 'one order' });
  res.end(String(answer.status) + ' ' + (await answer.text()));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('sidecar outbound, a peer without a sidecar', () => {
  it("passes on the peer app's own 503 with x-msup-not-forwarded: a POST it executed is not sent again", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    p.write('api.mjs', API);
    p.write('caller.mjs', CALLER);
    const health = { http: '/health', interval: '200ms' };
    const sup = await p.start({
      config: p.config({
        api: { command: [process.execPath, 'api.mjs'], instances: 2, port: 0, health },
        caller: { command: [process.execPath, 'caller.mjs'], port: 0, health, runtime: 'sidecar' },
      }),
    });
    const executed: string[] = [];
    const marked = new Set<number>();
    sup.on('output', (line: OutputLine) => {
      if (line.service !== 'api' || line.source) return;
      if (line.line.startsWith('executed')) executed.push(line.line);
      if (line.line === 'mark') marked.add(line.index);
    });
    const reply = await request(`${sup.url('caller')}/go`, { method: 'POST' });
    // Each app's output read up to a mark it printed after the POST: every execution is counted.
    expect(
      await waitFor(async () => {
        await request(`${sup.url('api')}/mark`);
        return marked.size === 2;
      }),
    ).toBe(true);
    expect(executed).toEqual(['executed /order']);
    expect(reply.body).toBe('503 the app is busy\n');
  });
});
