// One probe attempt against one instance: http (GET, 2xx/3xx passes), tcp (connects) or exec (exit 0).
import http from 'node:http';
import net from 'node:net';
import type { CommandResult } from '../contract.js';
import { isLocalShortage } from '../limits.js';
import { escapeUnsafe, withoutCutSurrogate } from '../text-escape.js';
import type { ResolvedCommand, ResolvedProbe } from '../types.js';

export interface ProbeTarget {
  /** Where http and tcp probes connect (null: the instance has no port, so they fail). */
  endpoint: { host: string; port: number } | null;
  /** Runs an exec probe's command where the instance runs (its runtime decides how). */
  exec(
    command: ResolvedCommand,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<CommandResult>;
  /** Ends a probe under way, of any kind (the monitor was stopped). */
  signal?: AbortSignal;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
  /**
   * The verdict without what the command wrote (`exec exited with code 1`), where the detail has its output:
   * what tells one failure from another (a probe printing a timestamp fails the same way each time).
   */
  reason?: string;
  /**
   * msup could not run the probe for a shortage (`descriptors`: EMFILE, ENFILE, ENOBUFS, ENOMEM, msup's
   * own; `processes`: EAGAIN for a process, a limit per user that the instance may share): it says nothing
   * about the instance and is not counted either way (a long streak of `processes` is: see the monitor).
   */
  inconclusive?: 'descriptors' | 'processes';
}

/** One attempt: its verdict, and when nothing of it is left. */
export interface ProbeAttempt {
  result: Promise<ProbeResult>;
  /**
   * Resolves once the attempt holds nothing more: an http probe's connection closed (its body is read
   * after the verdict), a tcp probe's or an exec probe's verdict in. `timeoutMs` after it began at the
   * latest, and at once when the target's signal aborts. Never rejects.
   */
  ended: Promise<void>;
}

/**
 * A failed attempt: inconclusive when msup itself was short of descriptors (or, `EAGAIN` of a connect, of
 * local ports), or of processes (`EAGAIN` of an exec probe's spawn).
 */
function failure(
  said: string | { detail: string; reason?: string },
  code: string | undefined,
  exec = false,
): ProbeResult {
  const told = typeof said === 'string' ? { detail: said } : said;
  if (isLocalShortage(code) || (code === 'EAGAIN' && !exec))
    return { ok: false, ...told, inconclusive: 'descriptors' };
  if (code === 'EAGAIN') return { ok: false, ...told, inconclusive: 'processes' };
  return { ok: false, ...told };
}

/** What an http probe reads of a body before it closes the connection (Kubernetes reads 10 KiB). */
const PROBE_BODY_LIMIT = 10 * 1024;

/**
 * `timeoutMs` bounds the whole attempt (connect, the status line and headers), as Kubernetes's, not
 * the socket's idle time: a server that trickles its headers fails it. The verdict comes with the status;
 * the body is read and dropped until it ends, `PROBE_BODY_LIMIT` or the time is up, whichever comes first,
 * and the attempt has `ended` once its connection is closed, so a health path that streams never keeps a
 * connection per probe.
 */
function httpProbe(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): ProbeAttempt {
  let end: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  const result = new Promise<ProbeResult>((resolve) => {
    let req: http.ClientRequest;
    let settled = false;
    const settle = (verdict: ProbeResult) => {
      if (settled) return;
      settled = true;
      resolve(verdict);
    };
    try {
      req = http.get({ host, port, path, agent: false, headers: { 'user-agent': 'msup-probe' } }, (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > PROBE_BODY_LIMIT) req.destroy();
        });
        res.on('error', () => {});
        settle({ ok: status >= 200 && status < 400, detail: `GET ${path} answered ${status}` });
      });
    } catch (error) {
      // A path Node refuses to send (validation keeps such paths out of the config).
      resolve({ ok: false, detail: `GET ${path} failed: ${(error as Error).message}` });
      end();
      return;
    }
    // The attempt has ended at the timeout (or the stop) at the latest, even if its close were late.
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs}ms`));
      end();
    }, timeoutMs);
    const stop = () => {
      req.destroy(new Error('the probe was stopped'));
      end();
    };
    signal?.addEventListener('abort', stop, { once: true });
    req.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      end();
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle(failure(`GET ${path} failed: ${error.message}`, error.code)),
    );
  });
  return { result, ended };
}

/**
 * Passes once the port accepts a connection, within `timeoutMs`. A stop (the target's signal) ends a
 * connect under way at once: one to a port past its accept backlog, whose SYNs the kernel drops, would
 * otherwise hold the instance's exit, or msup's stop, for the whole timeout.
 */
function tcpProbe(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const stopped: ProbeResult = { ok: false, detail: 'tcp connect failed: the probe was stopped' };
    if (signal?.aborted) {
      resolve(stopped);
      return;
    }
    const socket = net.connect({ host, port });
    socket.on('error', () => {});
    socket.on('data', () => {}); // a greeting (SSH, SMTP, databases) is read and dropped
    const settle = (verdict: ProbeResult) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      resolve(verdict);
    };
    const stop = () => {
      socket.destroy();
      settle(stopped);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      settle({ ok: false, detail: `tcp connect timed out after ${timeoutMs}ms` });
    }, timeoutMs);
    signal?.addEventListener('abort', stop, { once: true });
    socket.once('connect', () => {
      // A polite close (FIN, not RST), so a naive server never sees ECONNRESET from a probe.
      socket.end();
      setTimeout(() => socket.destroy(), timeoutMs).unref();
      settle({ ok: true, detail: `tcp port ${port} accepts connections` });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      settle(failure(`tcp connect failed: ${error.message}`, error.code));
    });
  });
}

/** How much of what an exec probe's command wrote last a failure shows: the end of it. */
export const OUTPUT_SHOWN_CHARS = 300;

/**
 * What a command wrote, as a failed probe shows it: its last OUTPUT_SHOWN_CHARS characters (`…` before
 * them when there was more), quoted as JSON on one line (a newline shows as `\n`, ESC as `\u001b`), every
 * other character a terminal may act on escaped the same way. Empty when it wrote only white space.
 */
export function shownOutput(output: string | undefined): string {
  const text = output?.trim() ?? '';
  if (text === '') return '';
  return escapeUnsafe(JSON.stringify(lastChars(text)));
}

/** The last OUTPUT_SHOWN_CHARS characters of a text, `…` before them when there was more. */
function lastChars(text: string): string {
  if (text.length <= OUTPUT_SHOWN_CHARS) return text;
  // Never half of a surrogate pair at the start.
  return `…${withoutCutSurrogate(text.slice(-OUTPUT_SHOWN_CHARS))}`;
}

/**
 * A runtime's error as a failed probe shows it (podman's `Error: ...` line, which the command it ran can
 * write too, as long as it likes): its end, as the output is shown, unquoted, with the C0 controls and
 * every other character a terminal may act on escaped as `\u001b`.
 */
export function shownError(error: string): string {
  return escapeUnsafe(lastChars(error.trim()));
}

/**
 * A failure's detail with what the command wrote last, where it wrote anything, and then the detail
 * without it as its `reason`.
 */
const withOutput = (detail: string, output: string | undefined): { detail: string; reason?: string } => {
  const shown = shownOutput(output);
  return shown ? { detail: `${detail}; last output: ${shown}`, reason: detail } : { detail };
};

async function execProbe(
  probe: Extract<ResolvedProbe, { kind: 'exec' }>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  let result: CommandResult;
  try {
    result = await target.exec(probe.command, {
      timeoutMs,
      ...(target.signal ? { signal: target.signal } : {}),
    });
  } catch (error) {
    // The contract lets a runtime's exec reject (or throw): the probe fails with the reason, and msup
    // never ends on an unhandled rejection.
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | null)?.code;
    return failure(`exec failed: ${shownError(message)}`, typeof code === 'string' ? code : undefined, true);
  }
  if (result.error) {
    // The runtime's code where it gives one (null: none); else a spawn error as its message ("spawn sh
    // EMFILE"), whose code is the last word.
    const code =
      result.errorCode !== undefined
        ? (result.errorCode ?? undefined)
        : result.error.match(/\bE[A-Z]+\b/g)?.at(-1);
    // The command's own output is only shown: what it says is no reason, nor a shortage of msup's.
    return failure(withOutput(`exec failed: ${shownError(result.error)}`, result.output), code, true);
  }
  // What it wrote before it was killed, as for a failed exit: how far it got.
  if (result.timedOut)
    return { ok: false, ...withOutput(`exec timed out after ${timeoutMs}ms`, result.output) };
  const verdict = result.signal ? `exec ended by ${result.signal}` : `exec exited with code ${result.code}`;
  if (result.code === 0) return { ok: true, detail: verdict };
  // As Kubernetes puts a failed exec probe's output in its event: why it failed, in the command's words.
  return { ok: false, ...withOutput(verdict, result.output) };
}

/** Starts one attempt; a monitor sends the next one once this one has `ended`. */
export function startProbe(probe: ResolvedProbe, target: ProbeTarget, timeoutMs: number): ProbeAttempt {
  if (probe.kind === 'exec') return verdictOnly(execProbe(probe, target, timeoutMs));
  if (!target.endpoint)
    return verdictOnly(Promise.resolve({ ok: false, detail: 'the instance has no port' }));
  const { host, port } = target.endpoint;
  return probe.kind === 'http'
    ? httpProbe(host, port, probe.path, timeoutMs, target.signal)
    : verdictOnly(tcpProbe(host, port, timeoutMs, target.signal));
}

/** An attempt that holds nothing once its verdict is in. */
function verdictOnly(result: Promise<ProbeResult>): ProbeAttempt {
  return {
    result,
    ended: result.then(
      () => {},
      () => {},
    ),
  };
}

/** One attempt's verdict. */
export function runProbe(probe: ResolvedProbe, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return startProbe(probe, target, timeoutMs).result;
}
