// An environment's Runtime API serves only that environment: a request whose Host is not its own address
// (a web page rebinding a name to 127.0.0.1) is refused, and on Linux so is a connection from another
// user's socket (any local user can connect to a loopback port). Neither gets the invocation waiting for
// a poll; the environment's own poll still does.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeApi, type RuntimeApiOptions } from '../../src/runtime/function/runtime-api.js';
import { TOKEN_HEADER } from '../../src/runtime/function/runtime-token.js';
import { peerIsOwn } from '../../src/runtime/function/socket-owner.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { IN_CI } from '../helpers/tools.js';

const NEXT = '/2018-06-01/runtime/invocation/next';
const apis: RuntimeApi[] = [];
afterEach(async () => {
  for (const api of apis.splice(0)) await api.close();
});

async function waiting(
  options: RuntimeApiOptions = {},
): Promise<{ api: RuntimeApi; answered: Promise<unknown> }> {
  const api = await RuntimeApi.listen(0, options);
  apis.push(api);
  const answered = api.invoke({
    id: 'id-1',
    event: '{"headers":{"authorization":"Bearer secret"}}',
    deadlineEpochMs: Date.now() + 60_000,
    arn: 'arn:aws:lambda:local:000000000000:function:fn',
  });
  return { api, answered };
}

/** The environment's own poll and answer: it gets the invocation, and its answer is taken. */
async function served(
  api: RuntimeApi,
  answered: Promise<unknown>,
  host: string,
  extra: Record<string, string> = {},
): Promise<void> {
  const next = await request(`http://127.0.0.1:${api.port}${NEXT}`, { headers: { host, ...extra } });
  expect(next.status).toBe(200);
  expect(next.headers['lambda-runtime-aws-request-id']).toBe('id-1');
  const posted = await request(`http://127.0.0.1:${api.port}/2018-06-01/runtime/invocation/id-1/response`, {
    method: 'POST',
    body: '{"ok":true}',
    headers: { host, ...extra },
  });
  expect(posted.status).toBe(202);
  expect(await answered).toEqual({ kind: 'response', body: Buffer.from('{"ok":true}') });
}

const setpriv = spawnSync('setpriv', ['--version']).status === 0;
const curl = spawnSync('curl', ['--version']).status === 0;
const asRoot = process.getuid?.() === 0;
const otherUser =
  process.platform !== 'linux'
    ? 'not Linux: msup does not check the owner of a connection'
    : !asRoot || !setpriv || !curl
      ? 'needs root, setpriv and curl to connect as another user'
      : undefined;
// CI runs as root with setpriv (util-linux) and curl installed by .ci/run: there, the test must run.
if (otherUser && IN_CI) throw new Error(`CI must run the other-user test of the Runtime API: ${otherUser}`);
if (otherUser) console.log(`skipping the other-user test: ${otherUser}`);

/** A bash script run as nobody (65534), its output: bash's /dev/tcp opens the connection. */
function asNobody(script: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', script],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('close', () => resolve(out.trim()));
  });
}

const poll = (port: number) => `printf 'GET ${NEXT} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\n\\r\\n' >&3`;

describe("an environment's Runtime API", () => {
  it('refuses a request whose Host is not its own address, then serves its environment', async () => {
    const { api, answered } = await waiting();
    for (const host of [`evil.example:${api.port}`, 'evil.example', `127.0.0.1:${api.port + 1}`]) {
      const stolen = await request(`http://127.0.0.1:${api.port}${NEXT}`, { headers: { host } });
      expect({ host, status: stolen.status, body: stolen.body }).toEqual({
        host,
        status: 403,
        body: JSON.stringify({
          errorMessage: 'the Runtime API answers only requests to its own address',
          errorType: 'AccessDenied',
        }),
      });
    }
    const forged = await request(`http://127.0.0.1:${api.port}/2018-06-01/runtime/invocation/id-1/response`, {
      method: 'POST',
      body: '{"forged":true}',
      headers: { host: 'evil.example' },
    });
    expect(forged.status).toBe(403);
    // Both spellings of its address that a runtime may send (AWS_LAMBDA_RUNTIME_API's, or localhost).
    await served(api, answered, `127.0.0.1:${api.port}`);
    const again = await waiting();
    await served(again.api, again.answered, `LOCALHOST:${again.api.port}`);
  });

  it('lets in many connections opened at once (they share reads of /proc)', async () => {
    const api = await RuntimeApi.listen(0);
    apis.push(api);
    const ids = Array.from({ length: 20 }, (_, i) => `id-${i}`);
    const answered = ids.map((id) =>
      api.invoke({ id, event: '{}', deadlineEpochMs: Date.now() + 60_000, arn: 'arn' }),
    );
    const polls = await Promise.all(ids.map(() => request(`http://127.0.0.1:${api.port}${NEXT}`)));
    expect(polls.map((p) => p.status)).toEqual(ids.map(() => 200));
    expect(polls.map((p) => p.headers['lambda-runtime-aws-request-id']).sort()).toEqual([...ids].sort());
    await Promise.all(
      ids.map((id) =>
        request(`http://127.0.0.1:${api.port}/2018-06-01/runtime/invocation/${id}/response`, {
          method: 'POST',
          body: '1',
        }),
      ),
    );
    expect(await Promise.all(answered)).toEqual(
      ids.map(() => ({ kind: 'response', body: Buffer.from('1') })),
    );
  });

  it("lets a connection in by its environment's token without checking its owner, and checks one without it", async () => {
    const checked: number[] = [];
    const owner = async (peer: { port: number }) => {
      checked.push(peer.port);
      return false; // as if every peer were another user's: only the token lets one in
    };
    const { api, answered } = await waiting({ token: 'the-token', owner });
    const url = `http://127.0.0.1:${api.port}${NEXT}`;
    // Without the token, or with another one: checked (once per connection), found another user's, closed
    // before any answer; the invocation waiting for a poll stays where it is.
    await expect(request(url)).rejects.toThrow(/socket hang up|ECONNRESET/);
    await expect(request(url, { headers: { [TOKEN_HEADER]: 'the-tokeN' } })).rejects.toThrow(
      /socket hang up|ECONNRESET/,
    );
    await expect(request(url, { headers: { [TOKEN_HEADER]: 'the-token-' } })).rejects.toThrow(
      /socket hang up|ECONNRESET/,
    );
    expect(checked).toHaveLength(3);
    await served(api, answered, `127.0.0.1:${api.port}`, { [TOKEN_HEADER]: 'the-token' });
    expect(checked).toHaveLength(3);
  });

  it('checks each connection as it is accepted when it has no token, whatever a request carries', async () => {
    let verdict = false;
    const checked: number[] = [];
    const owner = async (peer: { port: number }) => {
      checked.push(peer.port);
      return verdict;
    };
    const { api, answered } = await waiting({ owner });
    const url = `http://127.0.0.1:${api.port}${NEXT}`;
    await expect(request(url, { headers: { [TOKEN_HEADER]: 'anything' } })).rejects.toThrow(
      /socket hang up|ECONNRESET/,
    );
    expect(checked).toHaveLength(1);
    verdict = true;
    await served(api, answered, `127.0.0.1:${api.port}`);
    expect(checked).toHaveLength(3);
  });

  it('gives no invocation to a poll whose connection closed while its owner was checked', async () => {
    let release: (allowed: boolean) => void = () => {};
    const checking = new Promise<boolean>((resolve) => {
      release = resolve;
    });
    let asked = false;
    const owner = () => {
      asked = true;
      return checking;
    };
    const { api, answered } = await waiting({ token: 'the-token', owner });
    const socket = net.connect(api.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`GET ${NEXT} HTTP/1.1\r\nHost: 127.0.0.1:${api.port}\r\n\r\n`);
    expect(await waitFor(() => asked, 5000)).toBe(true);
    socket.destroy();
    expect(await waitFor(() => api.connections === 0, 5000)).toBe(true);
    release(true); // msup's own user's, but gone: its poll is not served
    await checking;
    await new Promise((resolve) => setImmediate(resolve));
    expect(api.delivered('id-1')).toBe(false);
    await served(api, answered, `127.0.0.1:${api.port}`, { [TOKEN_HEADER]: 'the-token' });
  });

  it('gives an invocation back when the poll it went to was reset before it could be written', async () => {
    // A peer that writes its poll and resets the connection leaves no line in /proc/net/tcp: the check lets in
    // what it cannot find (here, at once, once the reset is done), and the request buffered before the reset
    // is still read.
    let reset: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      reset = resolve;
    });
    let checks = 0;
    const owner = async () => {
      checks++;
      await done;
      return true;
    };
    const { api, answered } = await waiting({ owner });
    const socket = net.connect(api.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET ${NEXT} HTTP/1.1\r\nHost: 127.0.0.1:${api.port}\r\n\r\n`);
    expect(await waitFor(() => checks === 1, 5000)).toBe(true);
    socket.resetAndDestroy();
    await new Promise((resolve) => socket.once('close', resolve));
    reset();
    expect(await waitFor(() => api.connections === 0, 5000)).toBe(true);
    expect(api.delivered('id-1')).toBe(false);
    // The environment's own poll gets it (it would wait for ever, were the invocation lost).
    await served(api, answered, `127.0.0.1:${api.port}`);
  });

  it('serves invocation after invocation on one kept-alive connection, piling up no listeners on it', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const api = await RuntimeApi.listen(0);
      apis.push(api);
      const base = `http://127.0.0.1:${api.port}`;
      for (let i = 0; i < 15; i++) {
        const answered = api.invoke({
          id: `id-${i}`,
          event: '{}',
          deadlineEpochMs: Date.now() + 60_000,
          arn: 'a',
        });
        const next = await request(`${base}${NEXT}`, { agent });
        expect(next.headers['lambda-runtime-aws-request-id']).toBe(`id-${i}`);
        const posted = await request(`${base}/2018-06-01/runtime/invocation/id-${i}/response`, {
          method: 'POST',
          body: '1',
          agent,
        });
        expect(posted.status).toBe(202);
        await answered;
      }
      expect(api.connections).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      agent.destroy();
      process.off('warning', onWarning);
    }
  });

  it('gives an invocation back when its write to a waiting poll finds the connection reset', async () => {
    const api = await RuntimeApi.listen(0);
    apis.push(api);
    const socket = net.connect(api.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET ${NEXT} HTTP/1.1\r\nHost: 127.0.0.1:${api.port}\r\n\r\n`);
    // The poll waits for an invocation (init is the first poll's arrival).
    await api.init;
    await new Promise((resolve) => setImmediate(resolve));
    // Reset, and in the same turn (before msup can read the reset) an invocation: its write fails.
    socket.resetAndDestroy();
    const answered = api.invoke({
      id: 'id-1',
      event: '{}',
      deadlineEpochMs: Date.now() + 60_000,
      arn: 'arn',
    });
    expect(await waitFor(() => api.connections === 0, 5000)).toBe(true);
    expect(api.delivered('id-1')).toBe(false);
    await served(api, answered, `127.0.0.1:${api.port}`);
  });

  it.skipIf(otherUser !== undefined)(
    "refuses another user's poll written and closed at once, listed then as uid 0 (with a token and without)",
    { timeout: 40_000 },
    async () => {
      for (const options of [{}, { token: 'the-token' }] as RuntimeApiOptions[]) {
        // The real check, made once nobody's socket is closed: its end is then listed as uid 0.
        let closed: () => void = () => {};
        const gone = new Promise<void>((resolve) => {
          closed = resolve;
        });
        const verdicts: boolean[] = [];
        const owner = async (peer: net.AddressInfo | { address: string; port: number }, own: typeof peer) => {
          await gone;
          const allowed = await peerIsOwn(peer, own);
          verdicts.push(allowed);
          return allowed;
        };
        const { api, answered } = await waiting({ ...options, owner });
        await asNobody(`exec 3<>/dev/tcp/127.0.0.1/${api.port} && ${poll(api.port)} && exec 3>&-`);
        closed();
        expect(await waitFor(() => verdicts.length === 1 && api.connections === 0, 10_000)).toBe(true);
        // Its closed socket is listed as uid 0 with no file: refused, not taken for root's.
        expect({ options, verdicts, delivered: api.delivered('id-1') }).toEqual({
          options,
          verdicts: [false],
          delivered: false,
        });
        await served(
          api,
          answered,
          `127.0.0.1:${api.port}`,
          options.token ? { [TOKEN_HEADER]: options.token } : {},
        );
      }
    },
  );

  it.skipIf(otherUser !== undefined)(
    "closes another user's connections that never send a whole request (with a token)",
    { timeout: 40_000 },
    async () => {
      const { api, answered } = await waiting({ token: 'the-token' });
      // One sends nothing, one half a head: each reads until msup closes it (`read` gives 1 at the end),
      // or gives up after 20 s (above 128).
      const [idle, partial] = await Promise.all([
        asNobody(`exec 3<>/dev/tcp/127.0.0.1/${api.port} && read -t 20 x <&3; echo $?`),
        asNobody(
          `exec 3<>/dev/tcp/127.0.0.1/${api.port} && printf 'GET / HTTP/1.1\\r\\nX-A: ' >&3 && read -t 20 x <&3; echo $?`,
        ),
      ]);
      expect({ idle, partial }).toEqual({ idle: '1', partial: '1' });
      expect(api.delivered('id-1')).toBe(false);
      await served(api, answered, `127.0.0.1:${api.port}`, { [TOKEN_HEADER]: 'the-token' });
    },
  );

  it.skipIf(otherUser !== undefined)(
    "refuses another user's connection, then serves its environment (with a token and without)",
    { timeout: 40_000 },
    async () => {
      for (const options of [{}, { token: 'the-token' }] as RuntimeApiOptions[]) {
        const { api, answered } = await waiting(options);
        const url = `http://127.0.0.1:${api.port}${NEXT}`;
        // nobody (65534): curl sends a right Host (and, to a Runtime API with a token, a wrong token), and
        // its connection is closed before any answer.
        const extra = options.token ? ['-H', `${TOKEN_HEADER}: not-the-token`] : [];
        const stolen = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(
            'setpriv',
            ['--reuid=65534', '--regid=65534', '--clear-groups', 'curl', '-sS', '-m', '15', ...extra, url],
            { stdio: ['ignore', 'pipe', 'ignore'] },
          );
          let out = '';
          child.stdout.on('data', (c: Buffer) => {
            out += c.toString();
          });
          child.on('close', (code) => resolve({ code, out }));
        });
        expect({ options, out: stolen.out }).toEqual({ options, out: '' });
        // 52: empty reply, 56: connection reset (not 28: a timeout, which would mean it waited for an event).
        expect([52, 56]).toContain(stolen.code);
        await served(
          api,
          answered,
          `127.0.0.1:${api.port}`,
          options.token ? { [TOKEN_HEADER]: options.token } : {},
        );
      }
    },
  );
});
