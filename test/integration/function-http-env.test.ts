// An HTTP function's environment answering after the gateway already answered (its timeout's 504, or a
// 502 when the environment was ended): the late answer is dropped, not written (that threw inside an
// event handler and ended msup).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { forward } from '../../src/runtime/function/http-env.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe("an HTTP environment's late answer", () => {
  it('is dropped when the request was answered meanwhile', async () => {
    let answered = false;
    const app = await listen((_req, res) => {
      // Answers once the gateway has given its own answer.
      void waitFor(() => answered).then(() => res.end('late'));
    });
    const agent = new http.Agent({ keepAlive: true });
    const outcomes: unknown[] = [];
    const gateway = await listen((req, res) => {
      void forward(agent, app, req, res).then((outcome) => outcomes.push(outcome));
      // The function's timeout comes first.
      res.writeHead(504);
      res.end('timed out', () => {
        answered = true;
      });
    });
    const reply = await request(`http://127.0.0.1:${gateway}/`);
    expect(reply).toMatchObject({ status: 504, body: 'timed out' });
    expect(await waitFor(() => outcomes.length === 1)).toBe(true);
    expect(outcomes[0]).toMatchObject({ failure: { error: expect.any(Error), retry: false } });
    agent.destroy();
  });
});
