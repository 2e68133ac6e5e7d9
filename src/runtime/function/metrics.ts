// A function instance's own metric families for /metrics and the dashboard (RunningInstance.metrics):
// cold starts, invocations, init failures, throttles, environments ended and the environments there are
// now, by state. The supervisor adds the service and instance labels. Pure.
import type { MetricFamily } from '../../types.js';
import type { PoolCounters } from './pool-types.js';

const ENV_STATES = ['starting', 'busy', 'idle'] as const;

export function functionFamilies(
  counters: Readonly<PoolCounters>,
  environments: readonly { state: (typeof ENV_STATES)[number] }[],
): MetricFamily[] {
  const counter = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: 'counter',
    samples: [{ labels: {}, value }],
  });
  return [
    counter(
      'msup_function_cold_starts_total',
      'Requests that waited for a new execution environment (a cold start).',
      counters.coldStarts,
    ),
    counter('msup_function_invocations_total', 'Invocations handed to an environment.', counters.invocations),
    counter('msup_function_init_failures_total', 'Environment inits that failed.', counters.initFailures),
    counter(
      'msup_function_throttles_total',
      'Requests refused with 429 because every environment allowed was busy.',
      counters.throttled,
    ),
    {
      name: 'msup_function_environments_ended_total',
      help: 'Environments that ended: reaped when idle, or otherwise (crashed, timed out, over memory).',
      type: 'counter',
      samples: [
        { labels: { reason: 'idle' }, value: counters.reaped },
        { labels: { reason: 'other' }, value: counters.ended },
      ],
    },
    {
      name: 'msup_function_environments',
      help: 'Execution environments there are now, by state.',
      type: 'gauge',
      samples: ENV_STATES.map((state) => ({
        labels: { state },
        value: environments.filter((e) => e.state === state).length,
      })),
    },
  ];
}
