// An instance that stops answering (frozen, SIGSTOPped) leaves rotation as soon as a request to it
// times out, whatever maxFails says, and the other requests waiting on it go elsewhere at once.
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, proxy } = useUpstreams();
const project = useProject();

describe('a stalled instance', () => {
  it('is ejected at the first response timeout, and requests waiting on it are sent elsewhere', async () => {
    const waiting = new Map<string, { closed: boolean }>();
    // Answers nothing, ever (as a frozen process would not), and notes when msup gives up on a request.
    const frozen = await httpUpstream((req) => {
      const entry = { closed: false };
      waiting.set(req.url ?? '', entry);
      req.socket.once('close', () => {
        entry.closed = true;
      });
    });
    const live = await httpUpstream((req, res) => res.end(`live ${req.url}`));
    const { url, proxy: p } = await proxy([frozen, live], { responseTimeoutMs: 1000, maxFails: 5 });

    // Round robin: the first request goes to the frozen instance; then a second one waits there too.
    const first = request(`${url}/a`);
    expect(await waitFor(() => waiting.has('/a'))).toBe(true);
    expect((await request(`${url}/fill`)).body).toBe('live /fill');
    const second = request(`${url}/b`);
    expect(await waitFor(() => waiting.has('/b'))).toBe(true);

    // /a times out: the frozen instance is ejected (maxFails 5 notwithstanding), and /b goes elsewhere
    // at once instead of waiting for its own timeout.
    expect(await first).toMatchObject({ status: 200, body: 'live /a' });
    expect(p.stats()[0]?.ejected).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(waiting.get('/b')?.closed).toBe(true);
    expect(await second).toMatchObject({ status: 200, body: 'live /b' });
    for (let i = 0; i < 4; i++) expect((await request(`${url}/after`)).body).toBe('live /after');
    expect(p.stats()[0]?.requests).toBe(2);
  });

  it('leaves the other requests on the last healthy instance waiting for their own answers', async () => {
    let slowArrived = false;
    let onSlowCut: () => void = () => {};
    const slowCut = new Promise<void>((resolve) => {
      onSlowCut = resolve;
    });
    const only = await httpUpstream((req, res) => {
      if (req.url === '/slow') {
        slowArrived = true;
        req.socket.once('close', () => onSlowCut());
        return; // never answers
      }
      // Answers once msup gave up on /slow: its timeout came while this request waited.
      void slowCut.then(() => res.end(`answered ${req.url}`));
    });
    const { url, proxy: p } = await proxy([only], { responseTimeoutMs: 2000 });
    const slow = request(`${url}/slow`);
    expect(await waitFor(() => slowArrived)).toBe(true);
    // Sent a second later, so that its own timeout is a second after /slow's: time for its answer.
    await new Promise((r) => setTimeout(r, 1000));
    const fast = request(`${url}/fast`);
    expect((await slow).status).toBeGreaterThanOrEqual(500);
    // Before, the stall cut it too, and with no other instance it waited out the hold for a 502.
    expect(await fast).toMatchObject({ status: 200, body: 'answered /fast' });
    expect(p.stats()[0]?.ejected).toBe(false);
  });

  it('a SIGSTOPped instance of a real service stops getting requests after one response timeout', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: {
          command: node('echo-server.js'),
          instances: 2,
          port: 0,
          // A slow readiness probe: here the proxy has to notice on its own.
          health: { http: '/health', interval: '30s' },
          liveness: false,
          responseTimeout: '1s',
          maxFails: 10,
        },
      }),
    });
    const stopped = sup.instances('web')[0]?.pid as number;
    process.kill(stopped, 'SIGSTOP');
    try {
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 10; i++) statuses.push((await request(`${sup.url('web')}/`)).status);
        }),
      );
      expect(statuses).toEqual(Array(40).fill(200));
      // One round of timeouts, not one per request sent to it: at most the 4 in flight when it froze.
      expect(sup.proxyStats('web')[0]?.ejected).toBe(true);
      expect(sup.proxyStats('web')[0]?.requests).toBeLessThanOrEqual(4);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
  });
});
