// Where each service's ready instances are, kept from the instances' ready/unready/gone events: what a
// runtime that routes between services (a sidecar) asks the supervisor for.
import type { Directory, Endpoint } from '../contract.js';

export class EndpointDirectory implements Directory {
  readonly #byService = new Map<string, Map<string, Endpoint>>();
  readonly #listeners = new Set<(service: string) => void>();

  endpoints(service: string): Endpoint[] {
    return [...(this.#byService.get(service)?.values() ?? [])];
  }

  onChange(listener: (service: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** An instance (by rotation key) is in rotation at `endpoint`. */
  add(service: string, key: string, endpoint: Endpoint): void {
    const entries = this.#byService.get(service) ?? new Map<string, Endpoint>();
    this.#byService.set(service, entries);
    entries.set(key, endpoint);
    this.#changed(service);
  }

  /** An instance left rotation (or is gone). */
  remove(service: string, key: string): void {
    if (this.#byService.get(service)?.delete(key)) this.#changed(service);
  }

  #changed(service: string): void {
    for (const listener of [...this.#listeners]) listener(service);
  }
}
