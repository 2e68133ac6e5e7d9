// msup's HTTP server for a handler service under the process and container runtimes (run as
// `node dist/runtime/function/serve.js fns/hello.handler`): it listens on PORT and calls the handler with
// the same payload 2.0 event and result mapping as a function, in one process, with no function semantics
// (no timeout, no memory watch, one process serving requests concurrently).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { discardBody } from '../../proxy/linger.js';
import {
  errorResponse,
  fromResult,
  type HttpResponseParts,
  MALFORMED,
  malformedLine,
  toEvent,
} from './event.js';
import {
  answer,
  buildContext,
  type Handler,
  invokeErrorLine,
  loadHandler,
  regionVariables,
} from './handler-load.js';
import {
  eventTooLarge,
  framedHeaders,
  MAX_REQUEST_BYTES,
  readWhole,
  sentBody,
  tooLarge,
} from './in-process.js';

const spec = process.argv[2] ?? '';
const service = process.env.MSUP_SERVICE ?? 'handler';
// The region, as a function's environment has it (an AWS SDK client needs one).
Object.assign(process.env, regionVariables(process.env));
const env = {
  ...process.env,
  AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME ?? service,
  AWS_LAMBDA_FUNCTION_VERSION: process.env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
};

function write(res: http.ServerResponse, parts: HttpResponseParts, requestId?: string) {
  res.writeHead(parts.statusCode, framedHeaders(parts, requestId));
  res.end(sentBody(parts, res.req.method));
}

async function main() {
  let handler: Handler;
  try {
    handler = await loadHandler(process.cwd(), spec);
  } catch (error) {
    process.stderr.write(`${invokeErrorLine('undefined', error).replace('Invoke Error', 'Init Error')}\n`);
    process.exit(1);
  }
  const server = http.createServer((req, res) => {
    // The gateway's limit and answers: a body over 6 MB is 413, a failed invocation 502 with its error type.
    readWhole(req, (body, error) => {
      if (error) return; // the client went away
      if (body === null) {
        // Answered while the client may still be sending: the rest is read and dropped for a bounded
        // time, as msup's front does (Node's own discard reads it for ever).
        write(res, tooLarge());
        discardBody(req);
        return;
      }
      const requestId = randomUUID();
      const event = toEvent(
        {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          httpVersion: req.httpVersion,
          rawHeaders: req.rawHeaders,
          remoteAddress: req.socket.remoteAddress ?? '',
        },
        body,
        { requestId, epochMs: Date.now(), apiId: service },
      );
      // Lambda's 6 MB is the event's: a binary body grows by a third as base64, a text body's control
      // bytes six times as JSON escapes (\u0001). (Under a sixth of it, with Node's 16 KB of headers, the
      // event cannot reach it, and it is not written out to be measured.)
      if (body.length > MAX_REQUEST_BYTES / 6 && eventTooLarge(JSON.stringify(event))) {
        write(res, tooLarge());
        return;
      }
      const context = buildContext(env, { requestId, deadlineMs: Number.MAX_SAFE_INTEGER, arn: '' });
      void answer(handler, event, context).then((settled) => {
        if (!settled.ok) {
          write(res, errorResponse(502, MALFORMED, settled.shape.errorType), requestId);
          return;
        }
        const parts = fromResult(settled.json);
        if (parts.malformed) process.stderr.write(`${malformedLine(requestId, parts.malformed)}\n`);
        write(res, parts, requestId);
      });
    });
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
}

void main();
