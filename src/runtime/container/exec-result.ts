// What an exec probe's engine command (`podman exec NAME CMD`, `docker exec`) came to, as the runtime
// contract's CommandResult: the probe command's own exit passed through (with what it wrote, to show), the
// engine's own failures told apart from it by the engine's exit status and its message, never by what the
// command wrote. Pure.
import { constants as os } from 'node:os';
import type { CommandResult } from '../../contract.js';
import type { EngineName, EngineResult } from './engine.js';

/** Exit codes the engine itself uses when `exec` fails (125: the engine, 126: cannot invoke, 127: not found). */
const ENGINE_FAILURES = new Set([125, 126, 127]);
/** The engine failed before it ran anything (podman's ExecErrorCodeGeneric): a probe command never got there. */
const ENGINE_ERROR = 125;
/** How podman says it failed, on its last line. */
const ENGINE_MESSAGE = /^Error: /;
/** Go's and the C library's words for EAGAIN: the engine could not start a process or a thread. */
const NO_PROCESS = /resource temporarily unavailable|\bEAGAIN\b/i;
/**
 * The OCI runtime's own failures (`crun: fork: ...: OCI runtime error`): its fork happens inside the
 * container's cgroup, so EAGAIN there is as likely the container's own process limit (a leak of the
 * instance's, which its probes must count) as msup's user's.
 */
const OCI_RUNTIME = /OCI runtime|\b(crun|runc)\b/i;

/** The signal a code of 128 + N stands for (a container's init, and the engine's exec, report a death so). */
export function signalOf(code: number | null): string | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  const found = Object.entries(os.signals).find(([, n]) => n === code - 128);
  return found ? found[0] : null;
}

/** How much of what an engine command wrote an `output` keeps: its end (a probe shows 300 characters). */
const OUTPUT_CHARS = 1024;

/**
 * How much of each stream an exec probe's engine command keeps (engineCommand's `keepChars`): its end,
 * enough for OUTPUT_CHARS once podman's own log lines are left out.
 */
export const EXEC_KEEP_CHARS = 4 * OUTPUT_CHARS;

const lastLine = (text: string) => text.trim().split('\n').at(-1)?.trim() ?? '';

/** The engine's own log lines (podman's `time="..." level=warning msg="..."`), before what it runs writes. */
const ENGINE_LOG = /^time="[^"]*" level=(?:debug|info|warning) /;

/**
 * What the command wrote (the engine passes its stdout and stderr through), stdout's then stderr's (the
 * engine keeps them apart, so their order between them is lost), without the engine's own log lines: its
 * last OUTPUT_CHARS characters, shown by a failed probe, never read.
 */
function outputOf(result: EngineResult): string {
  const stderr = result.stderr
    .split('\n')
    .filter((line) => !ENGINE_LOG.test(line))
    .join('\n');
  return [result.stdout.trim(), stderr.trim()]
    .filter((text) => text !== '')
    .join('\n')
    .slice(-OUTPUT_CHARS);
}

/**
 * The result of `engine exec` as the probes take it. `aborted`: msup ended it (the probe was stopped). The
 * engine's own failure (exit 125, 126 or 127 with the engine's `Error: ` as its last line) is an `error`
 * with no code, whatever code its words name; one for want of processes (exit 125 and podman's own
 * `Error: ...: resource temporarily unavailable`, as podman fails when msup's user is out of processes; not
 * the OCI runtime's, see OCI_RUNTIME) has the code `EAGAIN`, which the probes take for msup's shortage, as
 * a spawn's `EAGAIN`. Any other exit, 125 included, whatever the command wrote, is passed through, a
 * failed one with what the command wrote as its `output`.
 */
export function execResult(engine: EngineName, result: EngineResult, aborted: boolean): CommandResult {
  if (result.code === null) {
    // Killed at its timeout, or by a stop: no verdict but the timeout's, with what it wrote by then.
    if (result.timedOut) {
      const output = outputOf(result);
      return { code: null, signal: null, timedOut: true, ...(output ? { output } : {}) };
    }
    if (aborted) return { code: null, signal: null, timedOut: false };
    // Ended by someone else (the OOM killer, a kill): that is the reason. Its stderr is the probe
    // command's as much as the engine's: shown as output, never taken for the reason or for a shortage.
    if (result.signal) {
      const output = outputOf(result);
      return {
        code: null,
        signal: null,
        timedOut: false,
        error: `${engine} exec was ended by ${result.signal}`,
        ...(output ? { output } : {}),
      };
    }
    // It could not start at all (EAGAIN, EMFILE: msup itself is short, which a probe must not count
    // against the instance; ENOENT: the engine is gone): Node's reason, its only stderr.
    return {
      code: null,
      signal: null,
      timedOut: false,
      error: lastLine(result.stderr) || `${engine} exec could not start`,
    };
  }
  const said = lastLine(result.stderr);
  if (ENGINE_FAILURES.has(result.code) && ENGINE_MESSAGE.test(said)) {
    // msup's user out of processes, as the engine says it: named EAGAIN, as a spawn's shortage is. The
    // code is given, never read from the words, which a probe command exiting 126 could have written.
    const noProcess = result.code === ENGINE_ERROR && NO_PROCESS.test(said) && !OCI_RUNTIME.test(said);
    const error = noProcess && !/\bEAGAIN\b/.test(said) ? `${said} (EAGAIN)` : said;
    return { code: null, signal: null, timedOut: false, error, errorCode: noProcess ? 'EAGAIN' : null };
  }
  const output = result.code === 0 ? '' : outputOf(result);
  return { code: result.code, signal: signalOf(result.code), timedOut: false, ...(output ? { output } : {}) };
}
