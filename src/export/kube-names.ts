// The names the Kubernetes and Knative exports give: a service's as a DNS label, two services with one
// refused, and names made distinct where the export makes several of one kind. Pure.
import { MsupError } from '../errors.js';
import type { ResolvedService } from '../types.js';
import type { Warnings } from './common.js';

/** A DNS-1035 label (a Service's name): lower case letters, digits and '-', starting with a letter, at most 63. */
export function kubernetesName(name: string): string {
  let out = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(out)) out = `s-${out}`;
  return out.slice(0, 63).replace(/-+$/, '');
}

/**
 * Refuses two services with one Kubernetes name (`api.v1` and `api_v1` are both `api-v1`): kubectl would
 * keep the last. Each name that changes is a warning.
 */
export function checkNames(services: readonly ResolvedService[], target: string, warnings: Warnings) {
  const names = new Map<string, string>();
  for (const s of services) {
    const name = kubernetesName(s.name);
    const other = names.get(name);
    if (other !== undefined) {
      const message = `"${other}" and "${s.name}" both become "${name}" in ${target} (a DNS label): rename one`;
      throw new MsupError('MSUP_CONFIG_INVALID', `cannot export to ${target}: ${message}`, {
        issues: [{ path: `services.${s.name}`, message }],
        service: s.name,
      });
    }
    names.set(name, s.name);
    if (name !== s.name) warnings.add(`services.${s.name}`, `named "${name}" in ${target} (a DNS label)`);
  }
}

/**
 * The names as given, each one taken again (`a.b` and `a-b` are both `a-b`) made distinct with `-2`,
 * `-3`, ..., never a name given for another.
 */
export function uniqueNames(names: readonly string[]): string[] {
  const given = new Set(names);
  const used = new Set<string>();
  const numbered = (name: string, n: number) =>
    `${name.slice(0, 62 - String(n).length).replace(/-+$/, '')}-${n}`;
  return names.map((name) => {
    let out = name;
    for (let n = 2; used.has(out) || (out !== name && given.has(out)); n++) out = numbered(name, n);
    used.add(out);
    return out;
  });
}
