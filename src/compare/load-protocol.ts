// The messages between a compare and its load generator process (loadgen.ts). Types only.

export interface LoadCommand {
  type: 'load';
  id: number;
  url: string;
  /** Requests at most. */
  requests: number;
  /** Clients, each sending its next request when its last one is answered. */
  concurrency: number;
  /** Time limit of the whole load. */
  durationMs: number;
  /** Time one request may take before it counts as a timeout. */
  timeoutMs: number;
}

export type ErrorKind = '5xx' | '429' | '4xx' | 'connection' | 'timeout';

export interface LoadResult {
  type: 'result';
  id: number;
  sent: number;
  /** Requests that got an HTTP answer, whatever its status. */
  answered: number;
  /** Latency of each successful (2xx/3xx) answer, in ms, in the order they finished. */
  latenciesMs: number[];
  /** Answers by status code. */
  statuses: Record<number, number>;
  errors: Record<ErrorKind, number>;
  elapsedMs: number;
}

export interface LoadProgress {
  type: 'progress';
  id: number;
  sent: number;
  done: number;
}

export type LoadMessage = LoadResult | LoadProgress;
