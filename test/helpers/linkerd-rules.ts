// Linkerd's annotations as msup writes them (msup export linkerd), checked by msup's own rules: each a
// known annotation, on the kind of object Linkerd reads it from, with a value Linkerd accepts (its docs).

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain data
type Manifest = Record<string, any>;

const label = (m: Manifest) => `${m.kind}/${m.metadata?.name}`;

/** The annotations of a manifest, and of its pod template (a Deployment's). */
function annotated(m: Manifest): [string, Record<string, string>][] {
  return [
    [m.kind, m.metadata?.annotations ?? {}],
    ...(m.spec?.template
      ? [['Pod', m.spec.template.metadata?.annotations ?? {}] as [string, Record<string, string>]]
      : []),
  ];
}

const DURATION = /^\d+(ms|s|m|h)$/;
const STATUS_LIST = /^(\dxx|\d{3}(-\d{3})?)(,(\dxx|\d{3}(-\d{3})?))*$/;
const COUNT = /^\d+$/;
/** Linkerd's annotations msup writes, each with the values Linkerd accepts (its docs). */
const LINKERD_RULES: Record<string, { on: string[]; valid: (v: string) => boolean }> = {
  'linkerd.io/inject': {
    on: ['Namespace', 'Pod'],
    valid: (v) => ['enabled', 'disabled', 'ingress'].includes(v),
  },
  'config.linkerd.io/default-inbound-policy': {
    on: ['Namespace', 'Pod'],
    valid: (v) =>
      [
        'all-unauthenticated',
        'all-authenticated',
        'cluster-authenticated',
        'cluster-unauthenticated',
        'deny',
      ].includes(v),
  },
  'retry.linkerd.io/http': { on: ['Service'], valid: (v) => STATUS_LIST.test(v) },
  'retry.linkerd.io/limit': { on: ['Service'], valid: (v) => COUNT.test(v) },
  'retry.linkerd.io/timeout': { on: ['Service'], valid: (v) => DURATION.test(v) },
  'timeout.linkerd.io/request': { on: ['Service'], valid: (v) => DURATION.test(v) },
  'balancer.linkerd.io/failure-accrual': { on: ['Service'], valid: (v) => v === 'consecutive' },
  'balancer.linkerd.io/failure-accrual-consecutive-max-failures': {
    on: ['Service'],
    valid: (v) => /^[1-9]\d*$/.test(v),
  },
  'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': {
    on: ['Service'],
    valid: (v) => DURATION.test(v),
  },
  'balancer.linkerd.io/failure-accrual-consecutive-max-penalty': {
    on: ['Service'],
    valid: (v) => DURATION.test(v),
  },
  'balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio': {
    on: ['Service'],
    valid: (v) => /^(0|0?\.\d+|1(\.0+)?)$/.test(v),
  },
};

export function linkerdProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const m of manifests) {
    for (const [kind, annotations] of annotated(m)) {
      for (const [key, value] of Object.entries<string>(annotations)) {
        if (!key.includes('linkerd.io/')) continue;
        const rule = LINKERD_RULES[key];
        if (!rule) problems.push(`${label(m)}: unknown Linkerd annotation ${key}`);
        else if (!rule.on.includes(kind)) problems.push(`${label(m)}: ${key} does not belong on a ${kind}`);
        else if (typeof value !== 'string' || !rule.valid(value))
          problems.push(`${label(m)}: ${key}: invalid value ${JSON.stringify(value)}`);
      }
    }
    const a = m.metadata?.annotations ?? {};
    if (
      a['balancer.linkerd.io/failure-accrual-consecutive-min-penalty'] &&
      a['balancer.linkerd.io/failure-accrual'] !== 'consecutive'
    )
      problems.push(
        `${label(m)}: failure-accrual settings without balancer.linkerd.io/failure-accrual: consecutive`,
      );
    if (a['retry.linkerd.io/limit'] && !a['retry.linkerd.io/http'])
      problems.push(`${label(m)}: retry.linkerd.io/limit without retry.linkerd.io/http retries nothing`);
  }
  return problems;
}
