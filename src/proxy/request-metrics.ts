// What one service's proxied HTTP requests looked like from the client's side: answers by status class
// and a duration histogram per instance index, msup's own answers by status, and held requests. Kept
// in fixed arrays updated on the hot path (nothing allocated per request); /metrics and the dashboard
// read them. Pure.
import { Histogram } from '../histogram.js';

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Requests one instance index answered, summed over its restarts. */
export interface InstanceRequests {
  readonly index: number;
  /** Answers by status class: 1xx (index 0) to 5xx (index 4). */
  readonly classes: Float64Array;
  /** From the request reaching msup to the end of the response (holds and retries included), in seconds. */
  readonly duration: Histogram;
}

/**
 * The status msup answers itself when no instance does: 400 (cannot be forwarded), 408 (the body stopped
 * coming), 502 (every instance failed), 504 (the last one tried did not answer in time), 503 (none ready, or
 * shutting down), and 499 when the client went
 * away before any answer (nginx's code for it; nothing is sent).
 */
export const CLIENT_GONE = 499;

export class RequestMetrics {
  /** By instance index. */
  readonly #instances: (InstanceRequests | undefined)[] = [];
  readonly #own = new Map<number, number>();
  /** Times a request waited for an instance to join (the hold window). */
  held = 0;

  /** A response from instance `index` ended (or was cut after its headers), `seconds` after the request came. */
  answered(index: number, status: number, seconds: number): void {
    const slot = this.#instances[index] ?? this.#slot(index);
    const c = Math.trunc(status / 100) - 1;
    if (c >= 0 && c < 5) slot.classes[c] = (slot.classes[c] as number) + 1;
    slot.duration.observe(seconds);
  }

  /** msup answered `status` itself (or the client left first: 499). */
  own(status: number): void {
    this.#own.set(status, (this.#own.get(status) ?? 0) + 1);
  }

  /** Every instance index that answered so far, in index order. */
  instances(): InstanceRequests[] {
    return this.#instances.filter((s): s is InstanceRequests => s !== undefined);
  }

  /** msup's own answers by status, in status order. */
  ownAnswers(): [status: number, count: number][] {
    return [...this.#own].sort((a, b) => a[0] - b[0]);
  }

  #slot(index: number): InstanceRequests {
    const slot = { index, classes: new Float64Array(5), duration: new Histogram() };
    this.#instances[index] = slot;
    return slot;
  }
}
