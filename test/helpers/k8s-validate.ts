// Validates Kubernetes manifests three ways: the kubernetes-models validators (the API's OpenAPI schemas),
// a strict check for unknown keys (TypeScript's excess-property check against the same models' types), and
// the semantic rules those miss (selectors, Services that select a Deployment, ports that exist).
import path from 'node:path';
import { Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { REPO } from './project.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed document, walked by hand
type Manifest = Record<string, any>;

// biome-ignore lint/suspicious/noExplicitAny: each model takes its own data type
const MODELS: Record<string, { model: new (data: any) => { validate(): void }; type: string; from: string }> =
  {
    Deployment: { model: Deployment, type: 'IDeployment', from: 'kubernetes-models/apps/v1/Deployment' },
    Service: { model: Service, type: 'IService', from: 'kubernetes-models/v1/Service' },
    Gateway: {
      model: Gateway,
      type: 'IGateway',
      from: '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway',
    },
    HTTPRoute: {
      model: HTTPRoute,
      type: 'IHTTPRoute',
      from: '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute',
    },
    // Istio (msup export istio): @kubernetes-models/istio 2.3 (3.x needs Node 22).
    DestinationRule: {
      model: DestinationRule,
      type: 'IDestinationRule',
      from: '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule',
    },
    VirtualService: {
      model: VirtualService,
      type: 'IVirtualService',
      from: '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService',
    },
    PeerAuthentication: {
      model: PeerAuthentication,
      type: 'IPeerAuthentication',
      from: '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication',
    },
  };

const label = (m: Manifest) => `${m.kind}/${m.metadata?.name}`;

/** The validators of kubernetes-models (and gateway-api), one manifest at a time. */
function schemaProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const m of manifests) {
    const known = MODELS[m.kind];
    if (!known) {
      problems.push(`${label(m)}: no validator for kind ${m.kind}`);
      continue;
    }
    try {
      new known.model(m).validate();
    } catch (error) {
      problems.push(`${label(m)}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/** Unknown keys (and wrong value types) as TypeScript sees them against the models' interfaces. */
export function strictKeyProblems(manifests: readonly Manifest[]): string[] {
  return typedValueProblems(
    manifests.map((m) => ({ value: m, type: MODELS[m.kind]?.type ?? 'never', from: MODELS[m.kind]?.from })),
  );
}

/**
 * Each value type-checked as a declaration of its type (TypeScript's excess-property check): what it holds
 * that the type does not know, or holds with the wrong type.
 */
export function typedValueProblems(
  values: readonly { value: unknown; type: string; from?: string | undefined }[],
) {
  const imports = new Map<string, string>();
  for (const v of values) if (v.from) imports.set(v.type, v.from);
  const source = [
    ...[...imports].map(([type, from]) => `import type { ${type} } from '${from}';`),
    ...values.map((v, i) => `export const m${i}: ${v.type} = ${JSON.stringify(v.value, null, 1)};`),
  ].join('\n');
  const file = path.join(REPO, 'test', `k8s-strict-${process.pid}.ts`);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
  host.fileExists = (name) => path.resolve(name) === file || ts.sys.fileExists(name);
  host.getSourceFile = (name, version, ...rest) =>
    path.resolve(name) === file
      ? ts.createSourceFile(name, source, version)
      : getSourceFile(name, version, ...rest);
  const program = ts.createProgram([file], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `line ${line + 1} of the manifests: ${text}`;
  });
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The ports a container listens on: its declared ports, and its PORT (msup's convention). */
function containerPorts(container: Manifest): { numbers: Set<number>; names: Set<string> } {
  const numbers = new Set<number>();
  const names = new Set<string>();
  for (const p of container.ports ?? []) {
    numbers.add(p.containerPort);
    if (p.name) names.add(p.name);
  }
  const env = (container.env ?? []).find((e: Manifest) => e.name === 'PORT');
  if (env) numbers.add(Number(env.value));
  return { numbers, names };
}

const portExists = (port: number | string, known: { numbers: Set<number>; names: Set<string> }) =>
  typeof port === 'number' ? known.numbers.has(port) : known.names.has(port);

/** The rules the schemas do not check. */
export function semanticProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const deployments = manifests.filter((m) => m.kind === 'Deployment');
  const services = manifests.filter((m) => m.kind === 'Service');
  const names = new Map<string, number>();
  for (const m of manifests) names.set(label(m), (names.get(label(m)) ?? 0) + 1);
  for (const [name, count] of names) if (count > 1) problems.push(`${name}: defined ${count} times`);

  for (const d of deployments) {
    const selector = d.spec?.selector?.matchLabels ?? {};
    if (!matches(selector, d.spec?.template?.metadata?.labels))
      problems.push(`${label(d)}: spec.selector does not match the pod template's labels`);
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      const known = containerPorts(c);
      for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const probe = c[kind];
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port !== undefined && !portExists(port, known))
          problems.push(
            `${label(d)}: ${c.name}.${kind} probes port ${port}, which the container does not listen on`,
          );
      }
    }
  }
  for (const s of services) {
    const selected = deployments.filter((d) =>
      matches(s.spec?.selector ?? {}, d.spec?.template?.metadata?.labels),
    );
    if (selected.length !== 1) {
      problems.push(`${label(s)}: selects ${selected.length} Deployments (expected exactly one)`);
      continue;
    }
    const containers = selected[0]?.spec?.template?.spec?.containers ?? [];
    for (const p of s.spec?.ports ?? [])
      if (!containers.some((c: Manifest) => portExists(p.targetPort ?? p.port, containerPorts(c))))
        problems.push(
          `${label(s)}: targetPort ${p.targetPort} is not a port of ${label(selected[0] as Manifest)}`,
        );
  }
  for (const r of manifests.filter((m) => m.kind === 'HTTPRoute')) {
    for (const parent of r.spec?.parentRefs ?? [])
      if (!manifests.some((m) => m.kind === 'Gateway' && m.metadata?.name === parent.name))
        problems.push(`${label(r)}: parentRef ${parent.name} is not a Gateway of the export`);
    for (const rule of r.spec?.rules ?? [])
      for (const ref of rule.backendRefs ?? []) {
        const target = services.find((s) => s.metadata?.name === ref.name);
        if (!target) problems.push(`${label(r)}: backendRef ${ref.name} is not a Service of the export`);
        else if (!(target.spec?.ports ?? []).some((p: Manifest) => p.port === ref.port))
          problems.push(`${label(r)}: backendRef ${ref.name}:${ref.port} is not a port of the Service`);
      }
  }
  // Istio: each rule names a Service of the export, on one of its ports; each policy selects a Deployment's pods.
  for (const m of manifests.filter((x) => x.kind === 'DestinationRule' || x.kind === 'VirtualService')) {
    const hosts: string[] = m.kind === 'DestinationRule' ? [m.spec?.host] : (m.spec?.hosts ?? []);
    for (const host of hosts)
      if (!services.some((s) => s.metadata?.name === host))
        problems.push(`${label(m)}: host ${host} is not a Service of the export`);
    for (const route of m.spec?.http ?? [])
      for (const { destination } of route.route ?? []) {
        const target = services.find((s) => s.metadata?.name === destination?.host);
        if (!target)
          problems.push(`${label(m)}: destination ${destination?.host} is not a Service of the export`);
        else if (!(target.spec?.ports ?? []).some((p: Manifest) => p.port === destination?.port?.number))
          problems.push(
            `${label(m)}: destination port ${destination?.port?.number} is not a port of the Service`,
          );
      }
  }
  for (const m of manifests.filter((x) => x.kind === 'PeerAuthentication'))
    if (
      !deployments.some((d) =>
        matches(m.spec?.selector?.matchLabels ?? {}, d.spec?.template?.metadata?.labels),
      )
    )
      problems.push(`${label(m)}: selects no Deployment's pods`);
  return problems;
}

/** Every problem found, by all three checks; empty when the manifests are valid. */
export function validateKubernetes(manifests: readonly Manifest[]): string[] {
  return [...schemaProblems(manifests), ...strictKeyProblems(manifests), ...semanticProblems(manifests)];
}
