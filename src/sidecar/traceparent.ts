// W3C Trace Context: a sidecar continues the `traceparent` it gets (same trace id, a new span id of its
// own) or starts one, so a call keeps one trace id across every hop. Pure (randomness passed in).

/** `version-traceid-parentid-flags`: 00, 32 hex, 16 hex, 2 hex; all-zero ids are invalid. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceContext {
  traceId: string;
  /** The span id of whoever sent it: the parent of the next span. */
  parentId: string;
  flags: string;
}

/**
 * The context in a `traceparent` header, or null when absent or invalid (then a new trace starts). Ids in
 * upper case are invalid: W3C Trace Context says they are lowercase hex and a header otherwise is ignored.
 */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | null {
  if (typeof header !== 'string') return null;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return null;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  // Version ff is invalid; version 00 has nothing after the flags (a later version may).
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, flags };
}

/** Random hex of `bytes` bytes, never all zeros. */
export function randomHex(bytes: number, random: (size: number) => Uint8Array): string {
  for (;;) {
    const hex = Buffer.from(random(bytes)).toString('hex');
    if (!/^0+$/.test(hex)) return hex;
  }
}

/**
 * The `traceparent` to send on: the incoming trace continued with a new span id, or a new sampled
 * trace. Returns the header and the trace id (for logs and metrics).
 */
export function continueTrace(
  header: string | string[] | undefined,
  random: (size: number) => Uint8Array,
): { traceparent: string; traceId: string; spanId: string; started: boolean } {
  const incoming = parseTraceparent(header);
  const spanId = randomHex(8, random);
  if (incoming) {
    return {
      traceparent: `00-${incoming.traceId}-${spanId}-${incoming.flags}`,
      traceId: incoming.traceId,
      spanId,
      started: false,
    };
  }
  const traceId = randomHex(16, random);
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId, started: true };
}

/**
 * The `tracestate` header belongs to the trace its `traceparent` names: a sidecar that starts a new trace
 * (none came, or an invalid one) drops it (W3C Trace Context: an invalid traceparent voids the tracestate).
 */
export const TRACESTATE = 'tracestate';
