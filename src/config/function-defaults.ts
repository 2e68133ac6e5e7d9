// The defaults of a function, per profile, each with where it comes from (docs/runtimes.md compares them). Pure data.
import type { ResolvedFunction } from '../types.js';

type Profile = ResolvedFunction['profile'];
type Defaults = Omit<ResolvedFunction, 'profile' | 'readiness' | 'target' | 'bootstrap'> & {
  target: number | null;
};

export const FUNCTION_DEFAULTS: Readonly<Record<Profile, Readonly<Defaults>>> = {
  lambda: {
    // One request per execution environment (AWS Lambda, "Lambda function scaling").
    concurrency: 1,
    // Lambda scales out as soon as every environment is busy: the target is the concurrency itself.
    target: null,
    // Provisioned concurrency is off unless configured.
    minInstances: 0,
    // Lambda's account limit is 1000 concurrent executions; ten processes suit one development machine.
    maxInstances: 10,
    // Lambda does not document it (environments are seen living 5 to 15 minutes idle); a minute suits local use.
    idleTimeoutMs: 60_000,
    scaleToZeroGraceMs: 0,
    // Lambda's default function timeout (up to 900 s).
    timeoutMs: 3000,
    // Lambda's INIT phase limit for on-demand functions; a failed init is tried again once.
    initTimeoutMs: 10_000,
    // Lambda's default memory size (128 MB to 10,240 MB).
    memoryMb: 128,
    // Past the concurrency limit Lambda throttles: 429 TooManyRequestsException.
    overflow: 'throttle',
  },
  knative: {
    // containerConcurrency 0: no hard limit per pod (Knative Serving, config-defaults).
    concurrency: 0,
    // autoscaling.knative.dev/target: 100 requests in flight per pod (config-autoscaler container-concurrency-target-default);
    // with a hard limit, the limit.
    target: 100,
    // autoscaling.knative.dev/min-scale: 0.
    minInstances: 0,
    // max-scale 0 means unbounded in Knative; ten processes suit one development machine.
    maxInstances: 10,
    // The autoscaler's stable window: 60 s without traffic before it scales down.
    idleTimeoutMs: 60_000,
    // scale-to-zero-grace-period: 30 s more before the last pod goes.
    scaleToZeroGraceMs: 30_000,
    // revision-timeout-seconds: 300.
    timeoutMs: 300_000,
    // Knative has no init cap of its own (progress-deadline is 600 s); msup keeps Lambda's 10 s.
    initTimeoutMs: 10_000,
    // Knative sets no memory limit; msup keeps Lambda's 128 MB so both are costed alike (set `memory` for more).
    memoryMb: 128,
    // The activator and queue-proxy buffer requests past the capacity instead of refusing them.
    overflow: 'queue',
  },
};
