// A sidecar's outbound side takes a 503 with x-msup-not-forwarded as a failed connect (and sends even a
// POST to another instance) only from a peer's sidecar: from a peer that runs without one (another
// runtime), the header is that app's own, and the POST it executed must not be sent again.
import { describe, expect, it } from 'vitest';
import { watchExecutions } from '../helpers/executions.js';
import { request } from '../helpers/http.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

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
    p.write('caller.mjs', CALLER);
    const health = { http: '/health', interval: '200ms' };
    const sup = await p.start({
      config: p.config({
        api: { command: node('executes-then-503.js'), instances: 2, port: 0, health },
        caller: { command: [process.execPath, 'caller.mjs'], port: 0, health, runtime: 'sidecar' },
      }),
    });
    const { executed, settled } = watchExecutions(sup, 'api', 2);
    const reply = await request(`${sup.url('caller')}/go`, { method: 'POST' });
    expect(await settled()).toBe(true);
    expect(executed).toEqual(['executed /order']);
    expect(reply.body).toBe('503 the app is busy\n');
  });
});
