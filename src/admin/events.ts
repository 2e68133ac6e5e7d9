// The dashboard's live feed over server-sent events: a state sample each second while anyone watches,
// and the services' output lines and msup's events (to holders of the token only), batched, with the
// last ones replayed to a new viewer. A viewer that does not keep up is dropped; its browser reconnects.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { LogRecord, OutputLine } from '../types.js';
import type { DashboardState } from './dashboard-state.js';

/** A line as the dashboard shows it. */
export interface FeedLine {
  /** Epoch ms. */
  time: number;
  /** The service it is about, or null for msup's own events about no service. */
  service: string | null;
  index: number | null;
  /** `stdout` / `stderr` for an instance's output, `msup` for msup's events. */
  stream: 'stdout' | 'stderr' | 'msup';
  level?: string;
  text: string;
  /** Its number in the feed (a reconnecting viewer skips the lines it has). */
  seq?: number;
}

/** Lines kept for a viewer that connects, and their text's characters at most (the oldest go first). */
const KEPT_LINES = 500;
const KEPT_CHARS = 256 * 1024;
/** Lines sent per batch at most, and their text's characters; the rest are counted as skipped. */
const BATCH_LINES = 500;
const BATCH_CHARS = 256 * 1024;
const BATCH_MS = 200;
/**
 * A line's text as the feed carries it, at most (a service's output line may be 64 KiB: 500 of them were a
 * 30 MB replay for each new viewer, built again for each); the log files keep the whole line.
 */
export const FEED_LINE_CHARS = 4096;
/** A viewer with this much unsent (what is queued and what would be written now) is dropped. */
const MAX_BACKLOG = 1024 * 1024;
/**
 * Viewers at once at most without the token (anyone on the machine may open them) and with it; more are
 * refused (503). Each holds a connection for as long as it watches: 260 anonymous streams filled the
 * admin listener's connections (ADMIN_MAX_CONNECTIONS), and /metrics and the actions were refused.
 */
export const MAX_VIEWERS_WITHOUT_TOKEN = 32;
export const MAX_VIEWERS_WITH_TOKEN = 32;

/** The event stream's response headers (a HEAD gets them too). */
export const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/** `text` cut to FEED_LINE_CHARS, saying how much was left out. */
function feedText(text: string): string {
  if (text.length <= FEED_LINE_CHARS) return text;
  return `${text.slice(0, FEED_LINE_CHARS)}… (${text.length - FEED_LINE_CHARS} more characters in the log file)`;
}

export function outputLine(line: OutputLine): FeedLine {
  return {
    time: Date.now(),
    service: line.service,
    index: line.index,
    stream: line.stream,
    text: feedText(line.source ? `[${line.source}] ${line.line}` : line.line),
  };
}

export function eventLine(record: LogRecord): FeedLine {
  const { level, msg, time, service, instance, ...fields } = record;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return {
    time,
    service: typeof service === 'string' ? service : null,
    index: typeof instance === 'number' ? instance : null,
    stream: 'msup',
    level,
    text: feedText(extra ? `${msg} ${extra}` : msg),
  };
}

interface Viewer {
  res: http.ServerResponse;
  lines: boolean;
}

/** How soon after an instance changes its new state goes out (changes within it go together). */
const NUDGE_MS = 50;

export class EventFeed {
  readonly #sample: () => Promise<DashboardState>;
  readonly #refresh: () => DashboardState | undefined;
  readonly #periodMs: number;
  #nudgeTimer: NodeJS.Timeout | undefined;
  readonly #viewers = new Set<Viewer>();
  readonly #kept: FeedLine[] = [];
  /** The characters of the kept lines' text. */
  #keptChars = 0;
  #pending: FeedLine[] = [];
  #pendingChars = 0;
  #skipped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #sampling = false;
  #last: DashboardState | undefined;
  #seq = 0;
  /** Counts the times nobody watched any more: a sample under way then is dropped (it would undo the reset). */
  #generation = 0;
  /** This run of msup: a page that reconnects to another run (the same port) counts its lines afresh. */
  readonly #run = randomUUID();
  readonly #idle: () => void;

  /**
   * `sample` takes a full state (rates included) each period; `refresh` gives the last one with the
   * instances as they are now, sent soon after an instance changes (`nudge`).
   */
  constructor(
    sample: () => Promise<DashboardState>,
    refresh: () => DashboardState | undefined,
    idle: () => void = () => {},
    periodMs = 1000,
  ) {
    this.#sample = sample;
    this.#refresh = refresh;
    this.#idle = idle;
    this.#periodMs = periodMs;
  }

  /**
   * A new viewer: whether it gets the lines (`hello`: its token was good), the last state and (with
   * `lines`) the kept lines at once, then live.
   */
  add(res: http.ServerResponse, lines: boolean): void {
    res.writeHead(200, STREAM_HEADERS);
    res.write('retry: 2000\n\n');
    const viewer = { res, lines };
    this.#viewers.add(viewer);
    res.once('close', () => {
      this.#viewers.delete(viewer);
      if (this.#viewers.size === 0) this.#stopTicking();
    });
    this.#send(viewer, 'hello', { run: this.#run, lines });
    if (lines) this.#send(viewer, 'lines', { lines: this.#kept, skipped: 0 });
    if (this.#last) this.#send(viewer, 'state', this.#last);
    this.#startTicking();
  }

  get viewers(): number {
    return this.#viewers.size;
  }

  /** Whether one more viewer (with the lines, or without) fits under its bound. */
  hasRoom(lines: boolean): boolean {
    let count = 0;
    for (const v of this.#viewers) if (v.lines === lines) count++;
    return count < (lines ? MAX_VIEWERS_WITH_TOKEN : MAX_VIEWERS_WITHOUT_TOKEN);
  }

  /** An instance changed: its new state goes out within NUDGE_MS, without waiting for the next sample. */
  nudge(): void {
    if (this.#viewers.size === 0 || this.#nudgeTimer) return;
    this.#nudgeTimer = setTimeout(() => {
      this.#nudgeTimer = undefined;
      const state = this.#refresh();
      if (!state) return;
      this.#last = state;
      this.#broadcast('state', state);
    }, NUDGE_MS);
  }

  line(line: FeedLine): void {
    line.seq = ++this.#seq;
    if (line.text.length > FEED_LINE_CHARS) line.text = feedText(line.text);
    this.#kept.push(line);
    this.#keptChars += line.text.length;
    let drop = 0;
    while (
      this.#kept.length - drop > KEPT_LINES ||
      (this.#keptChars > KEPT_CHARS && this.#kept.length - drop > 1)
    ) {
      this.#keptChars -= (this.#kept[drop] as FeedLine).text.length;
      drop++;
    }
    if (drop > 0) this.#kept.splice(0, drop);
    if (![...this.#viewers].some((v) => v.lines)) return;
    if (this.#pending.length >= BATCH_LINES || this.#pendingChars + line.text.length > BATCH_CHARS)
      this.#skipped++;
    else {
      this.#pending.push(line);
      this.#pendingChars += line.text.length;
    }
    this.#flushTimer ??= setTimeout(() => this.#flush(), BATCH_MS);
  }

  close(): void {
    this.#stopTicking();
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#nudgeTimer);
    for (const v of this.#viewers) v.res.end();
    this.#viewers.clear();
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const batch = { lines: this.#pending, skipped: this.#skipped };
    this.#pending = [];
    this.#pendingChars = 0;
    this.#skipped = 0;
    this.#broadcast('lines', batch, true);
  }

  /** One event to every viewer (with `linesOnly`, to those that get the lines), serialised once. */
  #broadcast(event: string, data: unknown, linesOnly = false): void {
    let message: string | undefined;
    for (const v of this.#viewers) {
      if (linesOnly && !v.lines) continue;
      message ??= sse(event, data);
      this.#write(v, message);
    }
  }

  #startTicking(): void {
    if (this.#timer) return;
    void this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.#periodMs);
    this.#timer.unref();
  }

  #stopTicking(): void {
    const wasTicking = this.#timer !== undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (!wasTicking) return;
    this.#generation++;
    this.#last = undefined;
    this.#idle();
  }

  async #tick(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    const generation = this.#generation;
    try {
      const state = await this.#sample();
      if (generation !== this.#generation) {
        // The last viewer left while it was taken: it is of before, and so is what the sampler kept of it.
        this.#idle();
        return;
      }
      this.#last = state;
      this.#broadcast('state', state);
    } catch {
      // msup is stopping (or a sample failed): the next tick tries again.
    } finally {
      this.#sampling = false;
    }
  }

  #send(viewer: Viewer, event: string, data: unknown): void {
    this.#write(viewer, sse(event, data));
  }

  #write(viewer: Viewer, message: string): void {
    const { res } = viewer;
    if (res.destroyed) return;
    // What is queued and what this write would add: one large write past the bound counts too, but not
    // onto an empty queue (a state of thousands of instances, or a replay of escaped control bytes,
    // dropped the viewer at every reconnect).
    if (res.writableLength > 0 && res.writableLength + message.length > MAX_BACKLOG) {
      res.destroy();
      return;
    }
    res.write(message);
  }
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
