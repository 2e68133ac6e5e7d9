// When a failed attempt may go to another instance (nginx's proxy_next_upstream rules), and the retry
// budget that keeps retries from multiplying load when everything fails (Envoy's). Pure.
import { isLocalShortage } from '../limits.js';

/**
 * Where an attempt failed: before the instance got the request, after it was sent, in what the
 * instance answered, or in msup itself (out of file descriptors: no instance is to blame).
 */
export type FailureKind = 'connect' | 'sent' | 'bad-response' | 'local';

const CONNECT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNREFUSED_POOL',
  'MSUP_CONNECT_TIMEOUT',
  // An instance's sidecar answered that its app never got the request (http-forward.ts).
  'MSUP_NOT_FORWARDED',
]);

/**
 * The connection was cut after the request was sent (not a timeout): the instance reset or closed it.
 * `UND_ERR_SOCKET` is undici's word for it, `MSUP_UPSTREAM_CLOSED` the lean client's (lean-pool.ts).
 */
const RESETS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'MSUP_UPSTREAM_CLOSED',
  'MSUP_STALE_CONNECTION',
]);

export function isReset(code: string | undefined): boolean {
  return code !== undefined && RESETS.has(code);
}

/** No response headers within responseTimeout (undici's code, and the lean client's). */
export function isResponseTimeout(code: string | undefined): boolean {
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'MSUP_RESPONSE_TIMEOUT';
}

export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * undici's words for a response it could not take (requests with a body): a response head past its limit,
 * and an answer with no request running or a 101 to a request without Upgrade. The lean client calls the
 * same answers MSUP_INVALID_RESPONSE; before, these counted as failures after sending (a PUT went to
 * another instance) and the 502 showed undici's code.
 */
const UNDICI_BAD_RESPONSE = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);
const UNDICI_BAD_SOCKET = new Set(['bad response', 'bad upgrade']);

export function classifyFailure(error: {
  code?: string | undefined;
  name?: string | undefined;
  message?: string | undefined;
}): FailureKind {
  const code = error.code ?? '';
  if (isLocalShortage(code)) return 'local';
  if (CONNECT.has(code)) return 'connect';
  if (code.startsWith('HPE_') || code === 'MSUP_INVALID_RESPONSE' || UNDICI_BAD_RESPONSE.has(code)) {
    return 'bad-response';
  }
  if (code === 'UND_ERR_SOCKET' && UNDICI_BAD_SOCKET.has(error.message ?? '')) return 'bad-response';
  // undici's parser asserts on what it cannot place (a 101 without `Connection: upgrade` answering a
  // request without Upgrade): its state there comes from the instance's bytes.
  if (code === 'ERR_ASSERTION') return 'bad-response';
  if (error.name === 'HTTPParserError') return 'bad-response';
  // Node refused to pass on what the instance sent (e.g. a header value with invalid characters).
  if (code === 'ERR_INVALID_CHAR' || code.startsWith('ERR_HTTP_INVALID')) return 'bad-response';
  return 'sent';
}

const WORDS: Record<string, string> = {
  UND_ERR_SOCKET: 'connection closed before a response',
  UND_ERR_HEADERS_TIMEOUT: 'no response within responseTimeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  MSUP_UPSTREAM_CLOSED: 'connection closed before a response',
  MSUP_STALE_CONNECTION: 'connection closed before a response',
  MSUP_RESPONSE_TIMEOUT: 'no response within responseTimeout',
  MSUP_CONNECT_TIMEOUT: 'connect timed out',
  MSUP_STALLED: 'another request to it timed out',
  MSUP_NOT_FORWARDED: 'its sidecar could not reach the app',
};

/** The system's codes, in words; the code follows them (`connection reset (ECONNRESET)`), for a search. */
const ERRNO_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while the request was sent',
  ECONNABORTED: 'connection aborted',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'no local address to connect from',
};

/**
 * What went wrong, for a 502 or 504 body: always words (undici's and msup's codes are replaced by them,
 * errno codes follow them); a code with no words of its own follows the error's message.
 */
export function describeFailure(code: string | undefined, kind: FailureKind, message: string): string {
  if (kind === 'bad-response') return 'invalid HTTP response';
  if (code === undefined) return message;
  const words = WORDS[code];
  if (words) return words;
  const errno = ERRNO_WORDS[code];
  if (errno) return `${errno} (${code})`;
  return message && message !== code ? `${message} (${code})` : `unexpected error (${code})`;
}

/** A timeout, as nginx sees one: no connection, or no response headers, in time (504 rather than 502). */
export function isTimeout(code: string | undefined): boolean {
  return (
    isResponseTimeout(code) ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'MSUP_CONNECT_TIMEOUT' ||
    code === 'ETIMEDOUT'
  );
}

export interface AttemptFailure {
  kind: FailureKind;
  method: string;
  /** The request body was (partly) read from the client and not kept, so it cannot be sent again. */
  bodyConsumed: boolean;
  /** Response bytes already went to the client. */
  responseStarted: boolean;
}

/** nginx: a failed connect goes on for any method; a reset or timeout after sending only when idempotent. */
export function mayRetry(failure: AttemptFailure): boolean {
  if (failure.responseStarted || failure.bodyConsumed) return false;
  if (failure.kind === 'connect') return true;
  if (failure.kind === 'bad-response' || failure.kind === 'local') return false;
  return IDEMPOTENT.has(failure.method);
}

export interface RetryBudgetSettings {
  /** Retries in progress may be this share of the requests in progress (Envoy: 20%). */
  percent: number;
  /** ...but at least this many at once (Envoy: 3; msup: 10). */
  minConcurrent: number;
}

/**
 * Envoy's 20%, with a higher floor than Envoy's 3: on a laptop a few connections are the norm, and an
 * instance killed under load fails all its in-flight requests at once; each deserves its one retry.
 */
export const DEFAULT_RETRY_BUDGET: RetryBudgetSettings = { percent: 20, minConcurrent: 10 };

/** Counts requests and retries in progress; a retry is allowed while retries stay within the budget. */
export class RetryBudget {
  readonly #settings: RetryBudgetSettings;
  active = 0;
  retrying = 0;

  constructor(settings: RetryBudgetSettings = DEFAULT_RETRY_BUDGET) {
    this.#settings = settings;
  }

  get limit(): number {
    const { percent, minConcurrent } = this.#settings;
    return Math.max(minConcurrent, Math.floor((this.active * percent) / 100));
  }

  /** Takes a retry slot, or returns false when the budget is spent. Give it back with `release()`. */
  acquire(): boolean {
    if (this.retrying >= this.limit) return false;
    this.retrying++;
    return true;
  }

  release(): void {
    if (this.retrying > 0) this.retrying--;
  }
}
