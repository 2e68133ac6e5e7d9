// Fidelity: AWS's own Runtime Interface Client (npm aws-lambda-ric) runs the same handler against msup's
// Runtime API, as a function's bootstrap, and the answers through the gateway are the same as with msup's
// bootstrap. aws-lambda-ric builds a native addon, so it is not a dependency: .ci/run installs it into .ric/
// (npm install --no-save --prefix .ric aws-lambda-ric@3.3.0). Without it the test is skipped with the
// reason, except in CI, where it fails.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFunction } from '../helpers/function.js';
import { REPO } from '../helpers/project.js';

const RIC = path.join(REPO, '.ric', 'node_modules', 'aws-lambda-ric', 'bin', 'index.mjs');
// Its addon is built for the Node.js that installed it (.ci/run writes which): the environment runs on that
// one, whatever Node runs msup and the tests.
const RIC_NODE = path.join(REPO, '.ric', 'node');
const ricNode = existsSync(RIC_NODE) ? readFileSync(RIC_NODE, 'utf8').trim() : process.execPath;
const missing = existsSync(RIC)
  ? undefined
  : `aws-lambda-ric is not installed in .ric/ (npm install --no-save --prefix .ric aws-lambda-ric@3.3.0; it needs autoconf automake libtool cmake g++ make)`;
if (missing && process.env.CI) throw new Error(`CI must run the aws-lambda-ric test: ${missing}`);
if (missing) console.log(`skipping the aws-lambda-ric test: ${missing}`);

/** An answer without what differs from one invocation to the next (ids, times, pids). */
async function answer(response: Response) {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    for (const key of ['born', 'awsRequestId', 'remaining']) delete b[key];
    if (b.requestContext) {
      const ctx = b.requestContext as Record<string, unknown>;
      for (const key of ['requestId', 'time', 'timeEpoch', 'domainName', 'domainPrefix']) delete ctx[key];
      delete (b.headers as Record<string, unknown>).host;
    }
  }
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    errorType: response.headers.get('x-amzn-errortype'),
    cookies: response.headers.getSetCookie(),
    body,
  };
}

describe.skipIf(missing !== undefined)('aws-lambda-ric against msup', () => {
  const start = useFunction();

  it("gets the same answers as msup's bootstrap, for the same handler", { timeout: 120_000 }, async () => {
    const ours = await start({});
    const aws = await start({
      runtime: { function: { bootstrap: [ricNode, RIC, 'fns/behave.handler'] } },
    });
    const requests: [string, RequestInit?][] = [
      ['/globals'],
      ['/globals'],
      [
        '/echo?a=1&a=2',
        { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json', cookie: 'k=v' } },
      ],
      [
        '/binary',
        { method: 'POST', body: Buffer.from([0, 1, 2, 250, 255]), headers: { 'content-type': 'image/png' } },
      ],
      ['/cookies'],
      ['/callback'],
      ['/context'],
      ['/throw'],
      ['/globals'],
    ];
    const seen: Awaited<ReturnType<typeof answer>>[] = [];
    for (const [p, init] of requests) {
      const [a, b] = [
        await answer(await fetch(ours.url(p), init)),
        await answer(await fetch(aws.url(p), init)),
      ];
      expect({ path: p, ...b }).toEqual({ path: p, ...a });
      seen.push(b);
    }
    // And they are the right answers, not two of the same mistake.
    expect(seen.map((a) => a.status)).toEqual([200, 200, 200, 200, 201, 200, 200, 502, 200]);
    expect(seen.map((a) => (a.body as { calls?: number }).calls)).toEqual([
      1,
      2,
      ...Array(6).fill(undefined),
      9,
    ]);
    expect(seen[3]?.type).toBe('image/png');
    expect(seen[7]?.errorType).toBe('TypeError');
    // The RIC ran in the environment, kept its globals, and msup counted it as a function.
    expect(aws.lines.some((l) => l.line.includes("Executing 'fns/behave.handler'"))).toBe(true);
    expect(aws.details()).toMatchObject({ coldStarts: 1, invocations: requests.length, errors: 1 });
  });
});
