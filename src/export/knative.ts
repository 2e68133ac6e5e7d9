// `msup export knative`: a Knative Serving Service per HTTP service (knative.yaml): containerConcurrency,
// timeoutSeconds and the autoscaling annotations (min-scale, max-scale, target, window) from the function
// settings; the container as the Kubernetes export makes it (an image of the user's own keeps its
// ENTRYPOINT and WORKDIR). Pure.
import { FUNCTION_DEFAULTS } from '../config/function-defaults.js';
import { peerVariable } from '../config/peer-variable.js';
import { functionScript } from '../handler-command.js';
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { argv, doubledDollarWarning, environment, kubeLiteral, toSeconds, type Warnings } from './common.js';
import { functionServices, serverlessWarnings } from './functions.js';
import { checkNames, kubernetesName } from './kube-names.js';

// biome-ignore lint/suspicious/noExplicitAny: a manifest, built by hand
type Manifest = Record<string, any>;

/** The port Knative gives a container (it sets PORT). */
const KNATIVE_PORT = 8080;
/** Knative's bounds on the autoscaler's stable window. */
const WINDOW = { minS: 6, maxS: 3600 };

/** A handler's container runs msup's handler server: `node <serve.js> handler`, from the image's copy of msup. */
function command(s: ResolvedService, config: ResolvedConfig, warnings: Warnings): string[] {
  if (!s.handler) return argv(s.command);
  const serve = functionScript('serve');
  if (!serve.startsWith(`${config.root}/`))
    warnings.add(
      `services.${s.name}.handler`,
      `msup's handler server (${serve}) is outside the project: install msup in the project so that the image holds it`,
    );
  return ['node', serve, s.handler];
}

/**
 * Each service's address for the others, as msup gives it (`MSUP_<NAME>_URL`, services with a front
 * port): an exported one's Knative Service, by its name in the namespace (port 80); one not exported (tcp
 * mode) has none, with a warning.
 */
function peerUrls(config: ResolvedConfig, exported: readonly ResolvedService[], warnings: Warnings) {
  const names = new Set(exported.map((s) => s.name));
  const urls: Record<string, string> = {};
  for (const s of config.services) {
    if (s.port === null) continue;
    if (names.has(s.name)) urls[s.name] = `http://${kubernetesName(s.name)}`;
    else
      warnings.add(`services.${s.name}`, `not a Knative Service: the others get no ${peerVariable(s.name)}`);
  }
  return urls;
}

function knativeService(
  config: ResolvedConfig,
  s: ResolvedService,
  labels: Record<string, string>,
  image: string,
  warnings: Warnings,
  peers: Readonly<Record<string, string>>,
  /** Not msup's minimal image: its ENTRYPOINT wraps the command (`args`) and its WORKDIR stays, as in msup. */
  ownImage: boolean,
): Manifest {
  const key = `services.${s.name}`;
  const fn = s.function;
  serverlessWarnings(s, warnings, 'Knative');
  for (const [i, route] of config.proxy.routes.entries())
    if (route.service === s.name)
      warnings.add(
        `proxy.routes.${i}`,
        'each Knative Service has its own URL: route paths to it with your ingress (not exported)',
      );
  if (fn.overflow === 'throttle')
    warnings.add(
      `${key}.function.overflow`,
      "Knative's activator queues requests past the capacity: 429 at maxInstances is not exported",
    );
  if (fn.initTimeoutMs !== FUNCTION_DEFAULTS.knative.initTimeoutMs)
    warnings.add(
      `${key}.function.initTimeout`,
      "Knative has no init limit of its own (a revision's progress deadline, 600 s by default, is the cluster's): not exported",
    );
  if (fn.bootstrap)
    warnings.add(
      `${key}.function.bootstrap`,
      "the container runs msup's handler server, not this Runtime API client: not exported",
    );
  if (fn.scaleToZeroGraceMs !== 0 && fn.scaleToZeroGraceMs !== 30_000)
    warnings.add(
      `${key}.function.scaleToZeroGrace`,
      "scale-to-zero-grace-period is the cluster's setting (config-autoscaler): not exported",
    );
  const windowS = Math.min(WINDOW.maxS, Math.max(WINDOW.minS, Math.ceil(fn.idleTimeoutMs / 1000)));
  if (windowS * 1000 !== fn.idleTimeoutMs)
    warnings.add(
      `${key}.function.idleTimeout`,
      `the stable window takes 6 s to 1 h: exported as ${windowS}s`,
    );
  const env: [string, string][] = [
    ...environment(s, warnings, peers).filter(([k]) => k !== 'PORT' && k !== 'HOST'),
    ['HOST', '0.0.0.0'],
  ];
  const container: Manifest = {
    image,
    ...(ownImage
      ? { args: command(s, config, warnings).map(kubeLiteral) }
      : { command: command(s, config, warnings).map(kubeLiteral), workingDir: s.cwd }),
    ports: [{ containerPort: KNATIVE_PORT }],
    env: env.map(([name, value]) => ({ name, value: kubeLiteral(value) })),
    resources: { limits: { memory: `${fn.memoryMb}Mi` } },
  };
  if (s.port !== null && s.port !== KNATIVE_PORT && s.port > 0)
    warnings.add(
      `${key}.port`,
      `Knative sets PORT=${KNATIVE_PORT} in the container: the service must listen on PORT`,
    );
  if (fn.readiness.kind === 'http') container.readinessProbe = { httpGet: { path: fn.readiness.path } };
  if (s.cpus !== null) container.resources.limits.cpu = String(s.cpus);
  const annotations: Record<string, string> = {
    'autoscaling.knative.dev/min-scale': String(fn.minInstances),
    'autoscaling.knative.dev/max-scale': String(fn.maxInstances),
    'autoscaling.knative.dev/target': String(fn.target),
    'autoscaling.knative.dev/window': `${windowS}s`,
  };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: kubernetesName(s.name),
      labels: { ...labels, 'app.kubernetes.io/name': kubernetesName(s.name) },
    },
    spec: {
      template: {
        metadata: { labels: { ...labels, 'app.kubernetes.io/name': kubernetesName(s.name) }, annotations },
        spec: {
          containerConcurrency: fn.concurrency,
          timeoutSeconds: toSeconds(fn.timeoutMs, `${key}.function.timeout`, warnings),
          containers: [container],
        },
      },
    },
  };
}

export function knativeServices(
  config: ResolvedConfig,
  project: string,
  images: ReadonlyMap<string, string>,
  warnings: Warnings,
  ownImages: ReadonlySet<string> = new Set(),
): Manifest[] {
  const labels = {
    'app.kubernetes.io/part-of': kubernetesName(project),
    'app.kubernetes.io/managed-by': 'msup',
  };
  const services = functionServices(config, warnings, 'Knative');
  checkNames(services, 'Knative', warnings);
  const peers = peerUrls(config, services, warnings);
  const manifests = services.map((s) =>
    knativeService(config, s, labels, images.get(s.name) as string, warnings, peers, ownImages.has(s.name)),
  );
  doubledDollarWarning(manifests, warnings);
  return manifests;
}
