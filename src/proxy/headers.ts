// Header rewriting between client and instance: hop-by-hop headers stripped both ways, X-Forwarded-*
// appended (trusted from loopback peers only), X-Request-Id added when absent, Host kept. Pure.

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the ones undici manages itself. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ForwardContext {
  /** The client's address as the socket saw it. */
  peer: string;
  /** The front port the request came in on. */
  port: number;
  proto: 'http' | 'https';
  /** A fresh id, called only when the request has no X-Request-Id. */
  requestId(): string;
  /** An absolute-form target's authority: sent as Host instead of the client's (RFC 9112 §3.2.2). */
  host?: string | undefined;
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

function bare(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The header with which an instance's sidecar says, on a 503, that its app never got the request (the
 * connect to the app failed): the front then tries the next instance, whatever the method (Linkerd's
 * l5d-proxy-error is the precedent). It never reaches a client.
 */
export const NOT_FORWARDED_HEADER = 'x-msup-not-forwarded';

/** Whether a response's raw headers carry NOT_FORWARDED_HEADER: 1. */
export function isNotForwarded(raw: readonly (Buffer | string)[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as Buffer | string;
    if (n.length !== NOT_FORWARDED_HEADER.length) continue;
    const name = typeof n === 'string' ? n : n.toString('latin1');
    if (name.toLowerCase() !== NOT_FORWARDED_HEADER) continue;
    const v = raw[i + 1] as Buffer | string;
    return (typeof v === 'string' ? v : v.toString('latin1')).trim() === '1';
  }
  return false;
}

/** Past this many request headers, the answer is 431 (Node would drop the rest silently). */
export const MAX_REQUEST_HEADERS = 1000;

/**
 * A request the front refuses before it reaches any instance: a second `Host` (RFC 9112 §3.2: 400),
 * more than MAX_REQUEST_HEADERS headers (431), or a transfer coding other than chunked (RFC 9112 §6.1:
 * 501, as nginx answers). Node removes the chunked framing and `Transfer-Encoding` is hop-by-hop, so a
 * `gzip, chunked` body reached the instance as gzip bytes with nothing to say so. Undefined for a request
 * that may go on.
 */
export function headerProblem(
  raw: readonly string[],
): { status: 400 | 431 | 501; reason: string } | undefined {
  if (raw.length > MAX_REQUEST_HEADERS * 2) {
    return { status: 431, reason: `more than ${MAX_REQUEST_HEADERS} request headers` };
  }
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) {
      return { status: 400, reason: 'more than one Host header' };
    }
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      const codings = (raw[i + 1] as string).split(',').map((c) => c.trim().toLowerCase());
      const other = codings.find((c) => c !== 'chunked' && c !== '');
      if (other !== undefined) {
        return {
          status: 501,
          reason: `the transfer coding ${JSON.stringify(other)} is not supported (only chunked)`,
        };
      }
    }
  }
  return undefined;
}

/**
 * What is wrong with an instance's response `Transfer-Encoding` (undici gives raw buffers, the lean client
 * latin1 strings), or undefined when it has none or it is exactly `chunked`. The chunked framing is taken
 * off and the header is hop-by-hop, so any other coding (`gzip, chunked`, a bare `gzip`) reached the client
 * as gzip bytes with nothing to say so: such a response is refused (502), as nginx refuses it ("upstream
 * sent unknown Transfer-Encoding"), and so is chunked applied twice.
 */
export function responseCodingProblem(raw: readonly (Buffer | string)[]): string | undefined {
  let codings: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as Buffer | string;
    if (n.length !== 17) continue;
    if ((typeof n === 'string' ? n : n.toString('latin1')).toLowerCase() !== 'transfer-encoding') continue;
    const v = raw[i + 1] as Buffer | string;
    codings ??= [];
    for (const c of (typeof v === 'string' ? v : v.toString('latin1')).split(',')) {
      const coding = c.trim().toLowerCase();
      if (coding !== '') codings.push(coding);
    }
  }
  if (codings === undefined || (codings.length === 1 && codings[0] === 'chunked')) return undefined;
  return `transfer coding ${JSON.stringify(codings.join(', '))} (only chunked is passed on)`;
}

/** Never removed because `Connection` names them: the instance needs them to read the request. */
const END_TO_END = new Set(['host', 'content-length']);

/** Names listed in `Connection` (they are hop-by-hop too). Empty in the common case. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length !== 10 || (raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const t of (raw[i + 1] as string).split(',')) {
      const name = t.trim().toLowerCase();
      if (!name || name === 'close' || name === 'keep-alive' || END_TO_END.has(name)) continue;
      tokens ??= new Set();
      tokens.add(name);
    }
  }
  return tokens;
}

/**
 * Whether Node sends `reason` as a status line's reason phrase (its own check). undici decodes a reason as
 * UTF-8, so a latin1 one (`Créé`) comes as U+FFFD, which Node refuses: writeHead throws.
 */
export function sendableReason(reason: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(reason);
}

/**
 * A header that tells an instance who the client is, in any spelling it may read as one: X-Forwarded-*,
 * the same with `_` (servers that map names to CGI's `HTTP_X_FORWARDED_FOR` merge the two), and RFC 7239's
 * `Forwarded`. From a client not on loopback, none is passed on (msup sets the X-Forwarded-* itself).
 */
export function isForwarding(lower: string): boolean {
  const name = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
  return name.startsWith('x-forwarded-') || name === 'forwarded';
}

/**
 * The headers for the instance, as a flat `[name, value, ...]` list, from the client's raw headers.
 * Incoming X-Forwarded-* (and `Forwarded`, and the spellings with `_`) are kept only from a loopback peer
 * (another proxy on this machine); otherwise they are dropped and msup's own X-Forwarded-* set. `Expect` is dropped: Node answers `100 Continue` to the client itself.
 */
export function upstreamHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const trusted = isLoopback(ctx.peer);
  const extra = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fhost: string | undefined;
  let fport: string | undefined;
  let host: string | undefined;
  let requestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'expect' || extra?.has(lower)) continue;
    if (!trusted && isForwarding(lower)) continue;
    if (lower.startsWith('x-forwarded-')) {
      if (lower === 'x-forwarded-for') xff = xff ? `${xff}, ${value}` : value;
      else if (lower === 'x-forwarded-proto') proto ??= value;
      else if (lower === 'x-forwarded-host') fhost ??= value;
      else if (lower === 'x-forwarded-port') fport ??= value;
      else out.push(name, value);
      continue;
    }
    if (lower === 'host') {
      if (host !== undefined) continue;
      host = ctx.host ?? value;
      out.push(name, host);
      continue;
    }
    if (lower === 'x-request-id') requestId = true;
    out.push(name, value);
  }
  if (host === undefined && ctx.host !== undefined) {
    host = ctx.host;
    out.push('host', host);
  }
  const peer = bare(ctx.peer);
  out.push('x-forwarded-for', xff ? `${xff}, ${peer}` : peer);
  out.push('x-forwarded-proto', proto ?? ctx.proto);
  if (fhost ?? host) out.push('x-forwarded-host', (fhost ?? host) as string);
  out.push('x-forwarded-port', fport ?? String(ctx.port));
  if (!requestId) out.push('x-request-id', ctx.requestId());
  return out;
}

/**
 * The instance's response headers for the client (undici gives raw buffers, the lean client latin1
 * strings), hop-by-hop removed.
 */
export function downstreamHeaders(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  let extra: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as Buffer | string;
    const v = raw[i + 1] as Buffer | string;
    const name = typeof n === 'string' ? n : n.toString('latin1');
    const lower = name.toLowerCase();
    const value = typeof v === 'string' ? v : v.toString('latin1');
    if (lower === 'connection') {
      for (const t of value.split(',')) {
        const token = t.trim().toLowerCase();
        if (!token || token === 'close' || token === 'keep-alive') continue;
        extra ??= new Set();
        extra.add(token);
      }
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    out.push(name, value);
  }
  if (!extra) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    if (!extra.has((out[i] as string).toLowerCase())) kept.push(out[i] as string, out[i + 1] as string);
  }
  return kept;
}
