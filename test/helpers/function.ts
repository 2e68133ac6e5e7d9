// A function instance driven through the runtime contract, with a manual clock: a throwaway project, the
// function runtime opened on it, output lines kept, and everything stopped (and checked gone) after the test.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { RunningInstance, Runtime } from '../../src/contract.js';
import { createFunctionRuntime } from '../../src/runtime/function/runtime.js';
import { Runtimes } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';
import type { OutputLine, ServiceConfig } from '../../src/types.js';
import { rawExchange } from './http.js';
import { ManualClock } from './manual-clock.js';
import { expectNoTaggedProcesses, waitFor } from './processes.js';
import { REPO } from './project.js';

export interface FunctionDetails {
  environments: { warm: number; busy: number; idle: number; starting: number; reaped: number; ended: number };
  list: { id: string | null; pid: number | null; state: string; invocations: number }[];
  coldStarts: number;
  invocations: number;
  errors: number;
  timeouts: number;
  outOfMemory: number;
  throttles: number;
  initFailures: number;
  cost: { requests: number; gbSeconds: number; modelled: boolean };
}

export interface FunctionUnderTest {
  clock: ManualClock;
  instance: RunningInstance;
  lines: OutputLine[];
  url: (path: string) => string;
  details(): FunctionDetails;
  /** Lines the gateway wrote (REPORT, timeouts, ...). */
  reports(): string[];
  /** Waits until the details satisfy `test` (the runtime acts on its own events). */
  until(test: (d: FunctionDetails) => boolean, timeoutMs?: number): Promise<void>;
  tag: string;
}

export function useFunction(): (
  service: Partial<ServiceConfig>,
  env?: Record<string, string>,
) => Promise<FunctionUnderTest> {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  return async (service, env = {}) => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-function-'));
    const tag = randomUUID();
    const clock = new ManualClock();
    const plugin = createFunctionRuntime({ clock });
    const runtimes = await Runtimes.open(root, () => {}, new EndpointDirectory(), { function: plugin });
    let instance: RunningInstance | undefined;
    cleanups.push(async () => {
      await instance?.stop(1000);
      await runtimes.close();
      try {
        await expectNoTaggedProcesses(tag);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
    const runtime: Runtime = await runtimes.get('function');
    const config = prepareConfig(
      {
        services: {
          fn: {
            handler: 'fns/behave.handler',
            cwd: path.join(REPO, 'fixtures'),
            port: 0,
            runtime: 'function',
            ...service,
            env: { ...env, MSUP_TEST_TAG: tag },
          } as ServiceConfig,
        },
      },
      root,
      null,
    );
    const svc = plugin.adjust ? plugin.adjust(config.services[0]!) : config.services[0]!;
    const lines: OutputLine[] = [];
    const base: Record<string, string | undefined> = { ...process.env, ...svc.env };
    delete base.PORT;
    const instanceEnv = { ...base, MSUP_SERVICE: svc.name, MSUP_INSTANCE: '0', MSUP_INSTANCES: '1' };
    instance = await runtime.start(
      { service: svc, index: 0, instances: 1, env: instanceEnv as Record<string, string> },
      (line) => lines.push(line),
    );
    const started = instance;
    const details = () => started.details?.() as unknown as FunctionDetails;
    return {
      clock,
      instance: started,
      lines,
      tag,
      url: (p) => `http://127.0.0.1:${started.endpoint?.port}${p}`,
      details,
      reports: () => lines.filter((l) => l.source === 'function').map((l) => l.line),
      until: async (test, timeoutMs = 15_000) => {
        if (!(await waitFor(() => test(details()), timeoutMs)))
          throw new Error(`not reached: ${JSON.stringify(details())}`);
      },
    };
  };
}

/** A 204's and a HEAD's answers as sent: headers only, no Content-Length on the 204. */
export async function expectNoBodies(base: string): Promise<void> {
  const noContent = await rawExchange(`${base}/no-content`, 'GET');
  expect(noContent).toMatch(/^HTTP\/1\.1 204 /);
  expect(noContent.toLowerCase()).not.toContain('content-length');
  expect(noContent.endsWith('\r\n\r\n')).toBe(true);
  const head = await rawExchange(`${base}/own-length`, 'HEAD');
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  expect(head.toLowerCase()).toContain('content-length: 4\r\n');
  expect(head.endsWith('\r\n\r\n')).toBe(true);
}

export interface EndlessUpload {
  /** The answer's head and body, as sent. */
  answer: string;
  /** The client had ended its body before the answer came (it sent `capBytes` first). */
  endedFirst: boolean;
  /** What a GET of /globals on the same connection got after the client ended its body: the connection was drained, not reset. */
  after: string;
}

/**
 * A chunked POST to `base` + `path` whose body does not end: 64 KB chunks, one after the other, until the
 * answer has come. Only as a bound (the answer never came while it was sending), the body is ended once
 * `capBytes` have gone. After the answer, the client ends its body and asks for /globals on the same
 * connection.
 */
export function endlessUpload(
  base: string,
  path: string,
  capBytes = 64 * 1024 * 1024,
): Promise<EndlessUpload> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    let answer = '';
    let endedFirst = false;
    let ended = false;
    let sent = 0;
    const end = () => {
      if (ended) return;
      ended = true;
      socket.write('0\r\n\r\n');
    };
    const settle = (after: string) => {
      socket.destroy();
      resolve({ answer, endedFirst, after });
    };
    /** One whole message (head and Content-Length body) at the front of `got`, taken off it. */
    const message = (): string | undefined => {
      const headEnd = got.indexOf('\r\n\r\n');
      if (headEnd < 0) return undefined;
      const head = got.subarray(0, headEnd).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (got.length < headEnd + 4 + length) return undefined;
      const whole = got.subarray(0, headEnd + 4 + length).toString('utf8');
      got = got.subarray(headEnd + 4 + length);
      return whole;
    };
    socket.on('data', (data: Buffer) => {
      got = Buffer.concat([got, data]);
      if (!answer) {
        const first = message();
        if (!first) return;
        answer = first;
        endedFirst = ended;
        end();
        socket.write('GET /globals HTTP/1.1\r\nHost: x\r\n\r\n');
      }
      const second = message();
      if (second) settle(second);
    });
    socket.on('error', () => {});
    socket.on('close', () => settle(''));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const send = () => {
      if (answer || ended || socket.destroyed) return;
      if (sent >= capBytes) end();
      else {
        sent += chunk.length;
        socket.write(frame, send);
      }
    };
    send();
  });
}
