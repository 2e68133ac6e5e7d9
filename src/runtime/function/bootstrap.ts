// msup's bootstrap of a handler environment (bundled with what it imports into one CommonJS file,
// dist/runtime/function/bootstrap.cjs, by scripts/bundle.js): it speaks the Lambda Runtime API
// to msup at AWS_LAMBDA_RUNTIME_API, as Lambda's own runtime does: load the handler (_HANDLER in
// LAMBDA_TASK_ROOT) or post /runtime/init/error; then get the next invocation, call the handler, post its
// response or its error, and again. With a concurrency above 1 it keeps as many invocations in flight,
// opening another poll whenever every poll is busy.
import {
  answer,
  buildContext,
  errorShape,
  type Handler,
  invokeErrorLine,
  loadHandler,
} from './handler-load.js';
import { RuntimeClient } from './runtime-client.js';
import { TOKEN_HEADER, TOKEN_VARIABLE } from './runtime-token.js';

const [host, port] = (process.env.AWS_LAMBDA_RUNTIME_API ?? '').split(':');
const BASE = '/2018-06-01/runtime';
const client = new RuntimeClient(host ?? '127.0.0.1', Number(port));
// The environment's token (runtime-token.ts): sent with each request, and not left for the handler to see.
const token = process.env[TOKEN_VARIABLE];
delete process.env[TOKEN_VARIABLE];
const call = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  client.call(method, BASE + path, body, token ? { ...headers, [TOKEN_HEADER]: token } : headers);

/** The invocations under way, which a crash of the process (below) fails. */
const inFlight = new Set<string>();

/**
 * An unhandled rejection or uncaught exception ends the environment, as on Lambda, but first fails each
 * invocation under way with it (Runtime.UnhandledPromiseRejection, or the thrown error's type), as
 * Lambda's runtime posts it: the client got 502 Runtime.ExitError, the real error only in stderr.
 */
function crash(kind: 'rejection' | 'exception', reason: unknown): void {
  const thrown = errorShape(reason);
  const shape =
    kind === 'rejection'
      ? {
          errorType: 'Runtime.UnhandledPromiseRejection',
          errorMessage: `${thrown.errorType}: ${thrown.errorMessage}`,
          reason: thrown.errorMessage,
          trace: thrown.trace,
        }
      : thrown;
  const label = kind === 'rejection' ? 'Unhandled Promise Rejection' : 'Uncaught Exception';
  const ids = [...inFlight];
  inFlight.clear();
  process.stderr.write(
    `${new Date().toISOString()}\t${ids[0] ?? 'undefined'}\tERROR\t${label} \t${JSON.stringify(shape)}\n`,
  );
  const posts = ids.map((id) =>
    call('POST', `/invocation/${id}/error`, JSON.stringify(shape), {
      'lambda-runtime-function-error-type': shape.errorType,
      // On its way out: msup gives this environment no other request (it would find it gone).
      'x-msup-exiting': '1',
    }).catch(() => {}),
  );
  void Promise.all(posts).then(() => process.exit(1));
}

let crashed = false;
for (const [event, kind] of [
  ['unhandledRejection', 'rejection'],
  ['uncaughtException', 'exception'],
] as const) {
  process.on(event, (reason: unknown) => {
    if (crashed) return; // the first one is the environment's end; the posts are under way
    crashed = true;
    crash(kind, reason);
  });
}

async function serve(handler: Handler, poll: () => void, busy: { count: number; polls: number }) {
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const requestId = String(next.headers['lambda-runtime-aws-request-id']);
    busy.count++;
    inFlight.add(requestId);
    if (busy.count === busy.polls) poll();
    const context = buildContext(process.env, {
      requestId,
      deadlineMs: Number(next.headers['lambda-runtime-deadline-ms']),
      arn: String(next.headers['lambda-runtime-invoked-function-arn'] ?? ''),
    });
    const settled = await answer(handler, JSON.parse(next.body), context);
    const post = settled.ok
      ? { path: `/invocation/${requestId}/response`, body: settled.json, headers: undefined }
      : {
          path: `/invocation/${requestId}/error`,
          body: JSON.stringify(settled.shape),
          headers: { 'lambda-runtime-function-error-type': settled.shape.errorType },
        };
    busy.count--;
    if (crashed) return; // a crash fails it (above)
    inFlight.delete(requestId);
    // The answer goes out while this poll asks for the next invocation (msup gives an environment no more
    // than its concurrency, so an early poll only waits).
    call('POST', post.path, post.body, post.headers).catch((error: Error) => {
      process.stderr.write(`msup bootstrap: could not post the answer: ${error.message}\n`);
      process.exit(1);
    });
  }
}

async function main() {
  client.open();
  let handler: Handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), process.env._HANDLER ?? '');
  } catch (error) {
    const shape = errorShape(error);
    process.stderr.write(`${invokeErrorLine('undefined', error).replace('Invoke Error', 'Init Error')}\n`);
    await call('POST', '/init/error', JSON.stringify(shape), {
      'lambda-runtime-function-error-type': shape.errorType,
    }).catch(() => {});
    process.exit(1);
  }
  // The environment lives until msup ends it, even when nothing else keeps the event loop busy (a handler
  // whose promise never settles runs into its timeout: unlike Lambda, where such an invocation fails at
  // once when the event loop is empty; docs/runtimes.md, "Differences from Lambda").
  setInterval(() => {}, 1 << 30);
  const limit = Number(process.env.MSUP_FUNCTION_CONCURRENCY ?? '1') || Number.POSITIVE_INFINITY;
  const busy = { count: 0, polls: 0 };
  const poll = () => {
    if (busy.polls >= limit) return;
    busy.polls++;
    serve(handler, poll, busy).catch((error: Error) => {
      process.stderr.write(`msup bootstrap: the Runtime API failed: ${error.message}\n`);
      process.exit(1);
    });
  };
  poll();
}

void main();
