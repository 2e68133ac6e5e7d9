// What a compare says without measuring: published figures from other hardware, and each runtime's
// isolation and what its export loses, in words. Pure data; a runtime not described here still runs.

export interface PublishedAnchor {
  /** The row it stands beside. */
  metric: string;
  /** The runtime it is closest to. */
  runtime: string;
  text: string;
  source: string;
}

/** Figures published by others, on other hardware: beside the measured numbers, never mixed with them. */
export const PUBLISHED_ANCHORS: readonly PublishedAnchor[] = [
  {
    metric: 'coldStartMs',
    runtime: 'function',
    text: 'AWS Lambda, Node.js, small bundle: cold start about 170–300 ms',
    source: 'published measurements of Lambda Node.js cold starts, as cited in msup issue 11',
  },
  {
    metric: 'coldStartMs',
    runtime: 'function',
    text: 'Firecracker (the micro-VM under Lambda): boot to user space ~125 ms',
    source: 'https://firecracker-microvm.github.io/ ("launch in as little as 125 ms")',
  },
  {
    metric: 'p50Ms',
    runtime: 'sidecar',
    text: 'Linkerd +6 ms, Istio +17 ms median latency at 2,000 RPS',
    source: "Buoyant's Linkerd vs Istio benchmark (2021), as cited in msup issue 11",
  },
  {
    metric: 'rssLoadBytes',
    runtime: 'sidecar',
    text: 'Envoy sidecar: ~40 MB per 1,000 RPS',
    source: 'https://istio.io/latest/docs/ops/deployment/performance-and-scalability/',
  },
];

export interface RuntimeNotes {
  /** The platform whose behaviour the runtime stands in for, when it emulates one. */
  emulates: string | null;
  isolation: string;
  exportLoses: string;
}

const NOTES: Readonly<Record<string, RuntimeNotes>> = {
  process: {
    emulates: null,
    isolation:
      'none beyond the OS user: each instance a process group of your user; memory and cpus not applied',
    exportLoses:
      'no export of its own: `msup export compose|k8s` runs the same commands in containers (dependsOn order, on-failure restarts, watch, balancing keys are named in warnings)',
  },
  container: {
    emulates: null,
    isolation:
      'namespaces (pid, mount, user) and cgroup limits (memory, cpus) per instance; the host network is shared',
    exportLoses:
      'Compose: liveness, weights, holdTimeout, tcp fronts; Kubernetes: dependsOn, on-failure/never restarts, env files, balancing keys (each a warning naming the key)',
  },
  function: {
    emulates: 'AWS Lambda / Knative (environments are processes, not micro-VMs)',
    isolation:
      'a process group per environment, one request at a time (Lambda profile); no micro-VM, CPU not scaled with memory',
    exportLoses:
      'SAM / Knative: workers (not invocable), dependsOn, watch, instances, stripPrefix; an HTTP service needs the Lambda Web Adapter',
  },
  sidecar: {
    emulates: 'a service mesh (Linkerd, Istio): a proxy beside each instance',
    isolation:
      'as processes, plus mutual TLS between services (a SPIFFE identity per service); a proxy process beside each instance, in the request path',
    exportLoses:
      'Linkerd / Istio: retryBudget, the other balancing choice, breaker.maxEjection (Istio), certLifetime (mesh-wide there); each a warning naming the key',
  },
};

/** What msup knows of a runtime by name; a runtime it does not describe gets "not described". */
export function runtimeNotes(name: string): RuntimeNotes {
  return (
    NOTES[name] ?? {
      emulates: null,
      isolation: 'not described for this runtime',
      exportLoses: 'not described for this runtime',
    }
  );
}
