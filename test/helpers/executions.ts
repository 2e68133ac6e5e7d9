// What the instances of a service running fixtures/executes-then-503.js executed, read from their output.
import type { Supervisor } from '../../src/index.js';
import type { OutputLine } from '../../src/types.js';
import { request } from './http.js';
import { waitFor } from './processes.js';

export function watchExecutions(sup: Supervisor, service: string, instances: number) {
  const executed: string[] = [];
  const marked = new Set<number>();
  sup.on('output', (line: OutputLine) => {
    if (line.service !== service || line.source) return;
    if (line.line.startsWith('executed')) executed.push(line.line);
    if (line.line === 'mark') marked.add(line.index);
  });
  return {
    /** `executed <path>` lines, in the order printed. */
    executed,
    /** Every instance's output read up to a mark it printed after now: every execution is counted. */
    settled: () =>
      waitFor(async () => {
        await request(`${sup.url(service)}/mark`);
        return marked.size === instances;
      }),
  };
}
