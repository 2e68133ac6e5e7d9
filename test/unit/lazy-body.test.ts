// LazyBody and BodyReplay over a real request stream (a loopback server): a body taken over by a later
// attempt replays what the earlier one read, then reads on from the client; the earlier one lets go of
// the client's stream; past the limit, nothing is kept.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyReplay, LazyBody, REPLAY_LIMIT } from '../../src/proxy/lazy-body.js';
import { requestWith } from '../helpers/http.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** A server whose handler gets each request; resolves with its port. */
async function serve(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Reads a body to its end. */
function readAll(body: LazyBody): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(Buffer.concat(chunks)));
    body.once('error', reject);
  });
}

/** Reads the first chunk of a body, then leaves it. */
function firstChunk(body: LazyBody): Promise<Buffer> {
  return new Promise((resolve) => body.once('data', (chunk: Buffer) => resolve(chunk)));
}

/** POSTs to `port`; `write` sends the body (and ends the request); resolves with the answer's text. */
async function post(port: number, write: (req: http.ClientRequest) => void): Promise<string> {
  return (await requestWith(`http://127.0.0.1:${port}/`, { method: 'POST' }, write)).body;
}

describe('LazyBody with a BodyReplay', () => {
  it('replays a body read in full, and ends, once the first reader let go of the client', async () => {
    const sent = Buffer.alloc(20_000, 'a');
    const port = await serve(async (req, res) => {
      const replay = new BodyReplay();
      const first = new LazyBody(req, 0, () => {}, replay);
      const one = await readAll(first);
      first.destroy();
      const listeners = req.listenerCount('data') + req.listenerCount('end');
      const second = new LazyBody(req, 0, () => {}, replay);
      const two = await readAll(second);
      res.end(
        JSON.stringify({
          one: one.equals(sent),
          two: two.equals(sent),
          listeners,
          ended: replay.ended,
          replayable: second.replayable,
        }),
      );
    });
    const reply = JSON.parse(await post(port, (req) => req.end(sent)));
    expect(reply).toEqual({ one: true, two: true, listeners: 0, ended: true, replayable: true });
  });

  it('replays what was read, then reads on from the client', async () => {
    let sendRest: () => void = () => {};
    const rest = new Promise<void>((resolve) => {
      sendRest = resolve;
    });
    const port = await serve(async (req, res) => {
      const replay = new BodyReplay();
      const first = new LazyBody(req, 0, () => {}, replay);
      const head = await firstChunk(first);
      first.destroy();
      const listeners = req.listenerCount('data');
      const second = new LazyBody(req, 0, () => {}, replay);
      const whole = readAll(second);
      sendRest();
      res.end(JSON.stringify({ head: head.toString(), whole: (await whole).toString(), listeners }));
    });
    const reply = JSON.parse(
      await post(port, (req) => {
        req.setHeader('transfer-encoding', 'chunked');
        req.write('first;');
        void rest.then(() => req.end('second'));
      }),
    );
    expect(reply).toEqual({ head: 'first;', whole: 'first;second', listeners: 0 });
  });

  it('keeps nothing past the limit: such a body cannot be sent again', async () => {
    const sent = Buffer.alloc(REPLAY_LIMIT + 1, 'b');
    const port = await serve(async (req, res) => {
      const replay = new BodyReplay();
      const body = new LazyBody(req, 0, () => {}, replay);
      const before = body.replayable;
      const read = await readAll(body);
      res.end(
        JSON.stringify({
          before,
          read: read.length,
          after: body.replayable,
          kept: replay.chunks.length,
          overflowed: replay.overflowed,
        }),
      );
    });
    const reply = JSON.parse(await post(port, (req) => req.end(sent)));
    expect(reply).toEqual({ before: true, read: sent.length, after: false, kept: 0, overflowed: true });
  });

  it('without a replay, a body once started cannot be sent again', async () => {
    const port = await serve(async (req, res) => {
      const body = new LazyBody(req);
      const before = body.replayable;
      await readAll(body);
      res.end(JSON.stringify({ before, after: body.replayable }));
    });
    expect(JSON.parse(await post(port, (req) => req.end('x')))).toEqual({ before: true, after: false });
  });
});
