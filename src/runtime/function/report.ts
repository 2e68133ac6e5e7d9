// The line AWS Lambda writes after each invocation (REPORT RequestId: ... Duration: ... Billed Duration: ...),
// tab-separated as Lambda writes it. Pure.

export interface Report {
  requestId: string;
  durationMs: number;
  billedMs: number;
  memoryMb: number;
  /** Peak resident memory of the environment so far, in MB, or null where it cannot be read. */
  maxMemoryMb: number | null;
  /** The environment's init, on the invocation that followed a cold start. */
  initMs?: number | undefined;
  /** How an invocation that did not return ended: `timeout`, or `error` with Lambda's error type. */
  status?: { status: 'timeout' | 'error'; errorType?: string | undefined } | undefined;
}

export function reportLine(r: Report): string {
  const used = r.maxMemoryMb === null ? '' : `Max Memory Used: ${r.maxMemoryMb} MB\t`;
  const init = r.initMs === undefined ? '' : `Init Duration: ${r.initMs.toFixed(2)} ms\t`;
  const status = r.status
    ? `Status: ${r.status.status}\t${r.status.errorType ? `Error Type: ${r.status.errorType}\t` : ''}`
    : '';
  return `REPORT RequestId: ${r.requestId}\tDuration: ${r.durationMs.toFixed(2)} ms\tBilled Duration: ${r.billedMs} ms\tMemory Size: ${r.memoryMb} MB\t${used}${init}${status}`;
}
