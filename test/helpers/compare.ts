// A compare result's runtime report, for the tests of what is made from reports: only its name, status and
// metrics matter to them.
import type { Metric, RuntimeReport } from '../../src/compare/types.js';

export function runtimeReport(
  runtime: string,
  metrics: Metric[],
  status: 'ran' | 'failed' = 'ran',
): RuntimeReport {
  return {
    runtime,
    status,
    emulates: null,
    metrics,
    manyErrors: false,
    latencyHistogram: [],
    memory: [],
    isolation: '',
    exportLoses: '',
    notes: [],
  };
}
