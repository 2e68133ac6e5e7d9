// The runtimes msup has, by name: what `runtime` in the config and `msup start --runtime` accept. Pure.
export const RUNTIME_NAMES = ['process', 'container', 'function', 'sidecar'] as const;
