// Inside a function's environment (and msup's handler server): load a handler as Lambda's Node.js runtime
// does, build the `context` it gets, call it (async, or with a callback), and shape a thrown error as
// Lambda reports it. Runs in the child process, not in msup.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export type Handler = (event: unknown, context: LambdaContext, callback?: Callback) => unknown;
type Callback = (error?: unknown, result?: unknown) => void;

/** A failure named as Lambda's runtime names it (`Runtime.ImportModuleError`, ...). */
class RuntimeError extends Error {
  constructor(type: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = `Runtime.${type}`;
  }
}

/** `fns/hello.handler` → the export `handler` of `<root>/fns/hello.{js,mjs,cjs}`. */
export async function loadHandler(root: string, spec: string): Promise<Handler> {
  const slash = spec.lastIndexOf('/');
  const dot = spec.indexOf('.', slash + 1);
  if (dot < 0 || spec.split('/').includes('..'))
    throw new RuntimeError('MalformedHandlerName', `'${spec}' is not a valid handler name`);
  const modulePath = path.resolve(root, spec.slice(0, dot));
  const names = spec.slice(dot + 1).split('.');
  const file = ['.js', '.mjs', '.cjs'].map((ext) => modulePath + ext).find((f) => existsSync(f));
  if (!file)
    throw new RuntimeError(
      'ImportModuleError',
      `Error: Cannot find module '${spec.slice(0, dot)}' (looked for .js, .mjs and .cjs in ${root})`,
    );
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SyntaxError) throw new RuntimeError('UserCodeSyntaxError', String(error), error);
    throw error;
  }
  const find = (from: unknown) => names.reduce<unknown>((o, n) => (o as Record<string, unknown>)?.[n], from);
  const handler = find(loaded) ?? find(loaded.default);
  if (handler === undefined)
    throw new RuntimeError('HandlerNotFound', `${spec} is undefined or not exported`);
  if (typeof handler !== 'function') throw new RuntimeError('HandlerNotFound', `${spec} is not a function`);
  return handler as Handler;
}

/** The error body Lambda's runtime posts (and API clients see): type, message, stack lines. */
export function errorShape(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (error instanceof Error)
    return { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

export interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  getRemainingTimeInMillis(): number;
  done(error?: unknown, result?: unknown): void;
  fail(error: unknown): void;
  succeed(result: unknown): void;
}

/**
 * The region Lambda sets in AWS_REGION and AWS_DEFAULT_REGION, without which an AWS SDK client made in a
 * handler fails ("Region is missing"): the user's own (either variable) where set, else us-east-1 (the
 * region of the modelled prices).
 */
export function regionVariables(env: Record<string, string | undefined>): Record<string, string> {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return { AWS_REGION: region, AWS_DEFAULT_REGION: env.AWS_DEFAULT_REGION || region };
}

/** The context Lambda's Node.js runtime builds, from its environment variables and the invocation's. */
export function buildContext(
  env: NodeJS.ProcessEnv,
  invocation: { requestId: string; deadlineMs: number; arn: string },
): LambdaContext {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    invokedFunctionArn: invocation.arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '',
    awsRequestId: invocation.requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
    getRemainingTimeInMillis: () => invocation.deadlineMs - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Calls the handler: settles with what it returns (a promise, a value) or passes to its callback. */
export function invokeHandler(handler: Handler, event: unknown, context: LambdaContext): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback: Callback = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== undefined && error !== null) reject(error);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (error) => callback(error ?? 'handled');
    try {
      const out = handler(event, context, callback);
      if (out && typeof (out as Promise<unknown>).then === 'function') {
        (out as Promise<unknown>).then(
          (result) => callback(null, result),
          (error) => callback(error ?? new Error('the handler rejected with nothing')),
        );
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (error) {
      callback(error);
    }
  });
}

/** What the runtime posts for one invocation: the result's JSON, or the error's shape (and its log line). */
export type Answer = { ok: true; json: string } | { ok: false; shape: ReturnType<typeof errorShape> };

/**
 * Calls the handler and serialises its result: a result JSON cannot write (a circular object, a BigInt)
 * is the invocation's error, as a thrown one is, and not a throw out of the caller (msup's handler server
 * died of it, with every request it was serving). The error is logged as Lambda's runtime logs it.
 */
export async function answer(handler: Handler, event: unknown, context: LambdaContext): Promise<Answer> {
  try {
    const result = await invokeHandler(handler, event, context);
    // JSON.stringify gives undefined for a function or a symbol: null, as for no result.
    return { ok: true, json: JSON.stringify(result ?? null) ?? 'null' };
  } catch (error) {
    process.stderr.write(`${invokeErrorLine(context.awsRequestId, error)}\n`);
    return { ok: false, shape: errorShape(error) };
  }
}

/** How Lambda's Node.js runtime logs a failed invocation (`<time> <id> ERROR Invoke Error {...}`). */
export function invokeErrorLine(requestId: string, error: unknown): string {
  return `${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${JSON.stringify(errorShape(error))}`;
}
