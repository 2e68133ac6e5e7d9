// dependsOn across services: unknown names and cycles are config errors; start and stop order
// follow the graph (dependencies first, dependents stopped first). Pure.
import type { ConfigIssue } from '../errors.js';

type Graph = ReadonlyMap<string, readonly string[]>;

/** The names a raw `dependsOn` value refers to (array or object form). */
export function dependencyNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (value && typeof value === 'object') return Object.keys(value);
  return [];
}

/** Unknown services, self-references and cycles, each with its path. */
export function dependencyIssues(graph: Graph): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, deps] of graph) {
    for (const dep of deps) {
      if (dep === name)
        issues.push({ path: `services.${name}.dependsOn`, message: 'a service cannot depend on itself' });
      else if (!graph.has(dep)) {
        issues.push({ path: `services.${name}.dependsOn`, message: `no service "${dep}" to depend on` });
      }
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        issues.push({
          path: `services.${name}.dependsOn`,
          message: `dependency cycle: ${cycle.join(' → ')}`,
        });
      }
      return;
    }
    state.set(name, 'visiting');
    for (const dep of graph.get(name) ?? []) if (dep !== name && graph.has(dep)) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of graph.keys()) visit(name, []);
  return issues;
}

/** Services grouped into stop waves: dependents before what they depend on. Assumes no cycle. */
export function stopWaves(graph: Graph): string[][] {
  const dependents = new Map<string, Set<string>>([...graph.keys()].map((n) => [n, new Set<string>()]));
  for (const [name, deps] of graph) for (const dep of deps) dependents.get(dep)?.add(name);
  const waves: string[][] = [];
  const left = new Set(graph.keys());
  while (left.size > 0) {
    const wave = [...left].filter((n) => [...(dependents.get(n) ?? [])].every((d) => !left.has(d)));
    if (wave.length === 0) return [...waves, [...left]]; // a cycle: stop the rest together
    for (const n of wave) left.delete(n);
    waves.push(wave);
  }
  return waves;
}
