// The config as a compose.yaml (compose-spec): replicas, healthcheck, depends_on with conditions, restart,
// resources, stop_grace_period, and one published front (nginx, see nginx-front.ts). Pure.
import { MsupError } from '../errors.js';
import type {
  DependencyCondition,
  ResolvedConfig,
  ResolvedProbeSettings,
  ResolvedService,
} from '../types.js';
import {
  argv,
  commonWarnings,
  containerPort,
  environment,
  goDuration,
  isReachable,
  sidecarWarning,
  type Warnings,
  withoutFunctions,
} from './common.js';
import { frontPorts, nginxFront } from './nginx-front.js';

/** The front's image: pulled by Compose from Docker Hub when it runs the file. */
export const FRONT_IMAGE = 'nginx:stable-alpine';
export const FRONT_SERVICE = 'msup-front';

type Doc = Record<string, unknown>;

/** The probe as a Compose `test`: http and tcp through the image's `node` (msup's images have no curl). */
function healthTest(settings: ResolvedProbeSettings): string[] {
  const p = settings.probe;
  const at = "'127.0.0.1'";
  if (p.kind === 'http')
    return [
      'CMD',
      'node',
      '-e',
      // The path as a JSON string, whole: the CMD form runs no shell, so its quotes need no care.
      `fetch('http://'+${at}+':'+process.env.PORT+${JSON.stringify(p.path)},{redirect:'manual'}).then(r=>process.exit(r.status<400?0:1),()=>process.exit(1))`,
    ];
  if (p.kind === 'tcp')
    return [
      'CMD',
      'node',
      '-e',
      `require('net').connect(+process.env.PORT,${at}).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`,
    ];
  return p.command.shell ? ['CMD-SHELL', p.command.argv[0] as string] : ['CMD', ...p.command.argv];
}

function healthcheck(service: ResolvedService, warnings: Warnings): Doc | undefined {
  const settings = service.health;
  const key = `services.${service.name}`;
  if (service.liveness)
    warnings.add(
      `${key}.liveness`,
      'Compose does not restart an unhealthy container (only Swarm does): not exported',
    );
  if (!settings) return undefined;
  if (settings.successThreshold > 1)
    warnings.add(`${key}.readiness.successThreshold`, 'a Compose healthcheck is healthy after one success');
  if (settings.initialDelayMs > 0)
    warnings.add(
      `${key}.readiness.initialDelay`,
      'a Compose healthcheck has no initial delay (start_period is the start timeout)',
    );
  if (settings.probe.kind !== 'exec' && service.container.image)
    warnings.add(
      `${key}.container.image`,
      `the healthcheck runs node inside the container: ${service.container.image} must have it`,
    );
  return {
    test: healthTest(settings),
    interval: goDuration(settings.intervalMs),
    timeout: goDuration(settings.timeoutMs),
    retries: settings.failureThreshold,
    start_period: goDuration(service.startTimeoutMs),
    // msup probes a starting instance every 100 ms (or more often) until it is ready.
    start_interval: goDuration(Math.min(100, settings.intervalMs)),
  };
}

function dependsOn(service: ResolvedService, config: ResolvedConfig, warnings: Warnings): Doc | undefined {
  const byName = new Map(config.services.map((s) => [s.name, s]));
  // A dependency that is not in the file (a function, exported with `sam` or `knative`): Compose would
  // refuse the file, so it is left out, with a warning.
  const entries = Object.entries(service.dependsOn).filter(([name]) => {
    if (byName.has(name)) return true;
    warnings.add(
      `services.${service.name}.dependsOn.${name}`,
      `${name} is not in the Compose file (a function: export it with sam or knative): no start order`,
    );
    return false;
  });
  if (entries.length === 0) return undefined;
  const conditions: Record<DependencyCondition, string> = {
    started: 'service_started',
    ready: 'service_healthy',
    completed: 'service_completed_successfully',
  };
  return Object.fromEntries(
    entries.map(([name, condition]) => {
      let mapped = conditions[condition];
      if (condition === 'ready' && !byName.get(name)?.health) {
        mapped = 'service_started';
        warnings.add(
          `services.${service.name}.dependsOn.${name}`,
          `"ready": ${name} has no probe (so no healthcheck): service_started instead`,
        );
      }
      return [name, { condition: mapped }];
    }),
  );
}

function envFiles(service: ResolvedService, rootEnv: string | null): Doc[] | undefined {
  const files = [...(rootEnv ? [rootEnv] : []), ...service.envFiles];
  // msup reports a missing env_file and starts anyway: not required.
  return files.length > 0 ? files.map((file) => ({ path: file, required: false })) : undefined;
}

/**
 * Each service's address for the others, as msup gives it (`MSUP_<NAME>_URL`, services with a front port):
 * an HTTP service through the published front (which balances over its replicas), a tcp one by its name.
 */
function peerUrls(config: ResolvedConfig): Record<string, string> {
  const { services: fronts } = frontPorts(config);
  const urls: Record<string, string> = {};
  for (const s of config.services) {
    if (s.port === null) continue;
    const front = fronts.get(s.name);
    urls[s.name] = front ? `http://${FRONT_SERVICE}:${front.target}` : `tcp://${s.name}:${containerPort(s)}`;
  }
  return urls;
}

/**
 * `ownImage`: the image is not msup's minimal one (`container.image`, a Containerfile): as in msup, its
 * ENTRYPOINT wraps the command and its WORKDIR stays (msup's minimal image has neither, and the folder at
 * its host path).
 */
function composeService(
  service: ResolvedService,
  config: ResolvedConfig,
  image: string,
  rootEnv: string | null,
  warnings: Warnings,
  ownImage: boolean,
): Doc {
  commonWarnings(service, warnings, 'Compose');
  sidecarWarning(service, warnings, 'Compose');
  const resources: Doc = {};
  if (service.cpus !== null) resources.cpus = String(service.cpus);
  if (service.memoryMb !== null) resources.memory = `${service.memoryMb}m`;
  const out: Doc = {
    image,
    // msup's minimal image: the whole command line, in the folder's copy at its host path.
    ...(ownImage
      ? { command: argv(service.command) }
      : { entrypoint: argv(service.command), working_dir: service.cwd }),
    environment: Object.fromEntries(environment(service, warnings, peerUrls(config))),
    env_file: envFiles(service, rootEnv),
    expose: isReachable(service, config) ? [String(containerPort(service))] : undefined,
    healthcheck: healthcheck(service, warnings),
    depends_on: dependsOn(service, config, warnings),
    // As msup's container runtime (Init): an init is PID 1 and passes SIGTERM on. The kernel gives PID 1
    // no signal it has no handler for, so a Node app as PID 1 would sit out the grace period, then SIGKILL.
    init: true,
    restart: { always: 'always', 'on-failure': 'on-failure', never: 'no' }[service.restart.policy],
    stop_grace_period: goDuration(service.stopTimeoutMs),
    deploy: {
      replicas: service.instances,
      ...(Object.keys(resources).length > 0 ? { resources: { limits: resources } } : {}),
    },
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/** Compose interpolates `$` everywhere in the file; msup passes it through: `$$` keeps it literal. */
function literal<T>(value: T): T {
  if (typeof value === 'string') return value.replace(/\$/g, '$$$$') as T;
  if (Array.isArray(value)) return value.map(literal) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literal(v)])) as T;
  return value;
}

/** `rootEnv`: the project's `.env` when it exists (msup reads it before each service's env_file). */
export function composeDocument(
  config: ResolvedConfig,
  project: string,
  images: ReadonlyMap<string, string>,
  rootEnv: string | null,
  warnings: Warnings,
  ownImages: ReadonlySet<string> = new Set(),
): Doc {
  config = withoutFunctions(config, warnings);
  const services: Doc = {};
  for (const s of config.services)
    services[s.name] = composeService(
      s,
      config,
      images.get(s.name) as string,
      rootEnv,
      warnings,
      ownImages.has(s.name),
    );
  const nginx = nginxFront(config, warnings);
  const doc: Doc = { name: project, services };
  if (nginx) {
    if (services[FRONT_SERVICE]) {
      const message = `"${FRONT_SERVICE}" is the name of msup's front (nginx) in the Compose file: rename the service`;
      throw new MsupError('MSUP_CONFIG_INVALID', `cannot export to Compose: ${message}`, {
        issues: [{ path: `services.${FRONT_SERVICE}`, message }],
        service: FRONT_SERVICE,
      });
    }
    const { shared, services: fronts } = frontPorts(config);
    const ports = [...(shared ? [shared] : []), ...fronts.values()].map((p) => ({
      target: p.target,
      host_ip: p.hostIp,
      ...(p.published ? { published: String(p.published) } : {}),
      protocol: 'tcp',
    }));
    const targets = config.services.filter(
      (s) => fronts.has(s.name) || config.proxy.routes.some((r) => r.service === s.name),
    );
    services[FRONT_SERVICE] = {
      image: FRONT_IMAGE,
      ports,
      configs: [{ source: FRONT_SERVICE, target: '/etc/nginx/conf.d/default.conf' }],
      // Started, not healthy: the services call each other through the front (MSUP_<NAME>_URL), so one
      // whose readiness needs another would never be healthy if the front waited for it. nginx answers
      // 502 for a target not listening yet, as msup's front holds then answers 503.
      depends_on: Object.fromEntries(targets.map((s) => [s.name, { condition: 'service_started' }])),
      init: true,
      restart: 'always',
    };
    doc.configs = { [FRONT_SERVICE]: { content: nginx } };
  }
  return literal(doc);
}
