// `msup status` as a table for people. Pure.

import { formatDuration } from '../config/duration.js';
import type { StatusV1 } from '../control/protocol.js';
import { escapeUnsafe } from '../text-escape.js';

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)}KB`;
  return `${(n / 1024 / 1024).toFixed(1)}MB`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A function instance's environments, cold starts and modelled cost, in one line (null for other runtimes). */
export function functionSummary(details: Record<string, unknown> | undefined): string | null {
  const d = details as
    | {
        environments?: { warm: number; busy: number; idle: number; starting: number; reaped: number };
        coldStarts?: number;
        invocations?: number;
        throttles?: number;
        cost?: { usd?: { total: number }; gbSeconds?: number };
      }
    | undefined;
  const e = d?.environments;
  if (!e) return null;
  const usd = d.cost?.usd?.total ?? 0;
  return (
    `${e.warm} warm (${e.busy} busy, ${e.idle} idle), ${e.starting} starting, ${e.reaped} reaped; ` +
    `${d.coldStarts ?? 0} cold starts, ${d.invocations ?? 0} invocations, ${d.throttles ?? 0} throttled; ` +
    `$${usd.toFixed(7)} modelled (${(d.cost?.gbSeconds ?? 0).toFixed(3)} GB-s)`
  );
}

interface BreakerMember {
  address: string;
  instance: number | null;
  state: string;
  consecutiveFailures: number;
  since: string | null;
  until: string | null;
  ejectionsInRow: number;
}

/**
 * A sidecar instance's circuit breakers that are not all quiet, one line per peer (`web#0 → api: ...`):
 * members ejected or half-open, and closed ones with failures in a row. Nothing while all are closed
 * without failures (status --json has every member).
 */
export function breakerLines(
  name: string,
  details: Record<string, unknown> | undefined,
  now = Date.now(),
): string[] {
  const breakers = details?.breakers as
    | Record<string, { ejected: number; ejections: number; members: BreakerMember[] }>
    | undefined;
  if (!breakers) return [];
  const lines: string[] = [];
  for (const [peer, b] of Object.entries(breakers)) {
    const parts = b.members.flatMap((m) => {
      const who = m.instance === null ? `${peer} at ${m.address}` : `${peer}#${m.instance}`;
      const since = m.since === null ? '' : ` for ${formatDuration(Math.max(0, now - Date.parse(m.since)))}`;
      if (m.state === 'open') {
        const left =
          m.until === null ? '' : `, half-open in ${formatDuration(Math.max(0, Date.parse(m.until) - now))}`;
        return [`${who} open${since}${left} (${ordinal(m.ejectionsInRow)} ejection in a row)`];
      }
      if (m.state === 'half-open') return [`${who} half-open (out${since}; a trial request may go)`];
      if (m.consecutiveFailures > 0)
        return [
          `${who} closed, ${m.consecutiveFailures} failure${m.consecutiveFailures === 1 ? '' : 's'} in a row`,
        ];
      return [];
    });
    if (parts.length === 0) continue;
    const of = `${b.ejected} of ${b.members.length} ejected, ${b.ejections} ejection${b.ejections === 1 ? '' : 's'} in all`;
    lines.push(`  ${name} → ${peer}: ${parts.join('; ')}; ${of}`);
  }
  return lines;
}

/** How much of a failed probe's detail its line under the row shows (status --json has all of it). */
export const PROBE_LINE_CHARS = 200;
/** How much of the detail's start (the verdict) a capped line keeps; its end (what was written last) fills the rest. */
const PROBE_LINE_HEAD = 80;

/** A character of a probe's detail as shown (escaped or not), and how many characters that is. */
type Piece = { text: string; chars: number };

/** The characters of a text, each escaped on its own when a terminal may act on it, with its length shown. */
function escapedChars(text: string): Piece[] {
  // Counted in characters, so a pair of UTF-16 units is never cut in two.
  return Array.from(text, (c) => {
    const escaped = escapeUnsafe(c);
    return { text: escaped, chars: escaped === c ? 1 : escaped.length };
  });
}

/** How many of `pieces`, in their order, fit in `budget` characters shown, and how many characters they show. */
function fitting(pieces: Iterable<Piece>, budget: number): { count: number; chars: number } {
  let chars = 0;
  let count = 0;
  for (const piece of pieces) {
    if (chars + piece.chars > budget) break;
    chars += piece.chars;
    count++;
  }
  return { count, chars };
}

/**
 * The last readiness probe's failure as a line under its instance's row (`kubectl describe`'s events):
 * nothing when it passed or never ran. One line, its characters a terminal acts on escaped as `\u001b`,
 * at most PROBE_LINE_CHARS characters as shown, escapes counted (the start and the end, `…` between
 * them); cut between characters, never inside an escape.
 */
function probeLine(
  probe: { ok: boolean; detail: string; at: string } | null,
  now = Date.now(),
): string | null {
  if (!probe || probe.ok) return null;
  const pieces = escapedChars(probe.detail.trim());
  const whole = pieces.reduce((n, p) => n + p.chars, 0);
  const join = (list: Piece[]) => list.map((p) => p.text).join('');
  let shown = join(pieces);
  if (whole > PROBE_LINE_CHARS) {
    // the start up to PROBE_LINE_HEAD (less when an escape would cross it), the end in what is left
    const head = fitting(pieces, PROBE_LINE_HEAD);
    const tail = fitting(pieces.toReversed(), PROBE_LINE_CHARS - head.chars - 1);
    shown = `${join(pieces.slice(0, head.count))}…${join(pieces.slice(pieces.length - tail.count))}`;
  }
  const at = Date.parse(probe.at);
  const ago = Number.isNaN(at) ? '' : ` ${formatDuration(Math.max(0, now - at))} ago`;
  return `  readiness probe failed${ago}: ${shown}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix =
    tens >= 11 && tens <= 13 ? 'th' : n % 10 === 1 ? 'st' : n % 10 === 2 ? 'nd' : n % 10 === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

export function formatStatus(status: StatusV1, now = Date.now()): string {
  const up = formatDuration(now - Date.parse(status.startedAt));
  const head = `msup pid ${status.pid}, up ${up}, ${status.configFile ?? status.project}`;
  const rows = [
    ['SERVICE', '#', 'PID', 'PORT', 'STATE', 'READY', 'RESTARTS', 'UPTIME', 'CPU', 'MEM', 'LAST EXIT'],
  ];
  /** The line under each row (its last probe's failure), by the row's index. */
  const under = new Map<number, string>();
  for (const service of status.services) {
    if (service.instances.length === 0) {
      rows.push([service.name, '-', '-', '-', 'scaled to 0', 'no', '-', '-', '-', '-', '-']);
    }
    for (const i of service.instances) {
      const last = i.lastExit
        ? i.lastExit.error
          ? 'could not start'
          : (i.lastExit.signal ??
              // No code: it ran, and how it ended is not known (the reason says why: `removed outside msup`).
              (i.lastExit.code === null ? (i.lastExit.reason ?? 'unknown') : `code ${i.lastExit.code}`)) +
            // Stopped by msup for its health: not a clean end, whatever the code.
            (i.lastExit.unhealthy && !i.lastExit.error ? ` (${i.lastExit.reason ?? 'unhealthy'})` : '')
        : '-';
      rows.push([
        service.name,
        String(i.index),
        i.pid === null ? '-' : String(i.pid),
        i.port === null ? '-' : String(i.port),
        i.state,
        i.ready ? 'yes' : 'no',
        String(i.restarts),
        i.uptimeMs === null ? '-' : formatDuration(i.uptimeMs),
        i.cpuPercent === null ? '-' : `${i.cpuPercent.toFixed(1)}%`,
        bytes(i.memoryBytes),
        last,
      ]);
      const probe = probeLine(i.lastProbe, now);
      if (probe) under.set(rows.length - 1, probe);
    }
  }
  const lines = table(rows)
    .split('\n')
    .flatMap((line, r) => {
      const probe = under.get(r);
      return probe ? [line, probe] : [line];
    });
  const functions = status.services.flatMap((s) =>
    s.instances.flatMap((i) => {
      const line = functionSummary(i.details);
      return line ? [`  ${s.name}#${i.index}: ${line}`] : [];
    }),
  );
  const breakers = status.services.flatMap((s) =>
    s.instances.flatMap((i) => breakerLines(`${s.name}#${i.index}`, i.details, now)),
  );
  const blocked = status.services.flatMap((s) => {
    const why = s.instances.find((i) => i.blocked)?.blocked;
    return why ? [`  ${s.name} will not start: ${why}`] : [];
  });
  const urls = status.services.filter((s) => s.url).map((s) => `  ${s.name}: ${s.url}`);
  if (status.sharedFront) urls.unshift(`  shared front: ${status.sharedFront}`);
  if (status.dashboard) urls.push(`  dashboard: ${status.dashboard}`);
  const empty = status.services.filter((s) => s.instances.length === 0).map((s) => s.name);
  const verdict = status.ready
    ? 'all instances ready'
    : empty.length > 0
      ? `NOT ready: ${empty.join(', ')} ${empty.length === 1 ? 'has' : 'have'} no instance (scaled to 0)`
      : 'NOT all instances are ready';
  const fns = functions.length ? `functions:\n${functions.join('\n')}\n` : '';
  const stuck = blocked.length ? `blocked:\n${blocked.join('\n')}\n` : '';
  const tripped = breakers.length ? `circuit breakers:\n${breakers.join('\n')}\n` : '';
  return `${head}\n${lines.join('\n')}\n${stuck}${fns}${tripped}${urls.length ? `fronts:\n${urls.join('\n')}\n` : ''}${verdict}\n`;
}
