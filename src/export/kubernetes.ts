// The config as Kubernetes manifests: a Deployment per service (probes, rolling update as msup's, resources,
// grace period), a Service per reachable service, and a Gateway with HTTPRoutes for the shared front. Pure.
import type { ResolvedConfig, ResolvedProbeSettings, ResolvedService } from '../types.js';
import {
  argv,
  balancingWarnings,
  commonWarnings,
  containerPort,
  doubledDollarWarning,
  environment,
  isReachable,
  kubeLiteral,
  servicePort,
  toSeconds,
  type Warnings,
  withoutFunctions,
} from './common.js';
import { front } from './gateway.js';
import { checkNames, kubernetesName } from './kube-names.js';

export { checkNames, kubernetesName };

type Manifest = Record<string, unknown>;

function probe(settings: ResolvedProbeSettings, service: ResolvedService, key: string, warnings: Warnings) {
  const p = settings.probe;
  const port = containerPort(service);
  const action =
    p.kind === 'http'
      ? { httpGet: { path: p.path, port } }
      : p.kind === 'tcp'
        ? { tcpSocket: { port } }
        : { exec: { command: argv(p.command, { exec: false }).map(kubeLiteral) } };
  return {
    ...action,
    periodSeconds: toSeconds(settings.intervalMs, `${key}.interval`, warnings),
    timeoutSeconds: toSeconds(settings.timeoutMs, `${key}.timeout`, warnings),
    failureThreshold: settings.failureThreshold,
    ...(settings.initialDelayMs > 0
      ? { initialDelaySeconds: toSeconds(settings.initialDelayMs, `${key}.initialDelay`, warnings, 0) }
      : {}),
  };
}

/** Where a probe's settings came from, for warnings: `readiness`, `health` or `liveness`. */
function probeKey(service: ResolvedService, which: 'readiness' | 'liveness') {
  return `services.${service.name}.${which === 'readiness' ? 'readiness' : 'liveness'}`;
}

function resources(service: ResolvedService) {
  const limits: Record<string, string> = {};
  if (service.memoryMb !== null) limits.memory = `${service.memoryMb}Mi`;
  if (service.cpus !== null) limits.cpu = `${Math.round(service.cpus * 1000)}m`;
  return Object.keys(limits).length > 0 ? { resources: { limits, requests: { ...limits } } } : {};
}

/** Each service's address for the others, as msup gives it (`MSUP_<NAME>_URL`): its Service. */
function peerUrls(config: ResolvedConfig): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const s of config.services) {
    if (s.port === null) continue;
    const scheme = s.balancing.mode === 'tcp' ? 'tcp' : 'http';
    urls[s.name] = `${scheme}://${kubernetesName(s.name)}:${servicePort(s)}`;
  }
  return urls;
}

function deployment(
  service: ResolvedService,
  image: string,
  labels: Record<string, string>,
  warnings: Warnings,
  peers: Readonly<Record<string, string>>,
  /** Not msup's minimal image: its ENTRYPOINT wraps the command (`args`) and its WORKDIR stays, as in msup. */
  ownImage: boolean,
) {
  const name = kubernetesName(service.name);
  const key = `services.${service.name}`;
  if (service.restart.policy !== 'always')
    warnings.add(
      `${key}.restart`,
      `"${service.restart.policy}": a Deployment always restarts its pods (a Job runs to completion)`,
    );
  if (Object.keys(service.dependsOn).length > 0)
    warnings.add(
      `${key}.dependsOn`,
      'Kubernetes starts every Deployment at once: no start order (an init container can wait instead)',
    );
  commonWarnings(service, warnings, 'Kubernetes');
  balancingWarnings(service, warnings, 'Kubernetes');
  const health = service.health;
  const container: Manifest = {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    ...(ownImage
      ? { args: argv(service.command).map(kubeLiteral) }
      : { command: argv(service.command).map(kubeLiteral), workingDir: service.cwd }),
    env: environment(service, warnings, peers).map(([n, value]) => ({ name: n, value: kubeLiteral(value) })),
    ...resources(service),
  };
  if (health) {
    const readiness = probe(health, service, probeKey(service, 'readiness'), warnings);
    container.readinessProbe = { ...readiness, successThreshold: health.successThreshold };
    // msup restarts an instance not ready within startTimeout, probing it often meanwhile: a startup probe.
    const { initialDelaySeconds: _, ...check } = readiness;
    container.startupProbe = {
      ...check,
      periodSeconds: 1,
      failureThreshold: toSeconds(service.startTimeoutMs, `${key}.startTimeout`, warnings),
      ...(health.initialDelayMs > 0 ? { initialDelaySeconds: readiness.initialDelaySeconds } : {}),
    };
  }
  if (service.liveness)
    container.livenessProbe = probe(service.liveness, service, probeKey(service, 'liveness'), warnings);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: service.instances,
      selector: { matchLabels: labels },
      // msup's rolling restart: a new instance first, the old one leaves once the new one is ready.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: toSeconds(service.stopTimeoutMs, `${key}.stopTimeout`, warnings),
          containers: [container],
        },
      },
    },
  };
}

function serviceManifest(service: ResolvedService, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: kubernetesName(service.name), labels },
    spec: {
      selector: labels,
      ports: [
        {
          name: service.balancing.mode === 'tcp' ? 'tcp' : 'http',
          protocol: 'TCP',
          port: servicePort(service),
          targetPort: containerPort(service),
        },
      ],
    },
  };
}

/** Every manifest, in the order `kubectl apply` wants them: Deployments, Services, then the front. */
export function kubernetesManifests(
  config: ResolvedConfig,
  project: string,
  images: ReadonlyMap<string, string>,
  warnings: Warnings,
  ownImages: ReadonlySet<string> = new Set(),
): Manifest[] {
  config = withoutFunctions(config, warnings);
  const projectName = kubernetesName(project);
  const base = { 'app.kubernetes.io/part-of': projectName, 'app.kubernetes.io/managed-by': 'msup' };
  checkNames(config.services, 'Kubernetes', warnings);
  const labelsOf = (s: ResolvedService) => ({ 'app.kubernetes.io/name': kubernetesName(s.name), ...base });
  const peers = peerUrls(config);
  const deployments = config.services.map((s) =>
    deployment(s, images.get(s.name) as string, labelsOf(s), warnings, peers, ownImages.has(s.name)),
  );
  const services = config.services
    .filter((s) => isReachable(s, config))
    .map((s) => serviceManifest(s, labelsOf(s)));
  const fronts = config.proxy.routes.length > 0 ? front(config, projectName, base, warnings) : [];
  const manifests = [...deployments, ...services, ...fronts];
  doubledDollarWarning(manifests, warnings);
  return manifests;
}
