// Validates a compose document: the upstream compose-spec JSON schema (pinned in schemas/compose-spec/),
// plus the checks the schema does not make (restart and healthcheck enums, durations, sizes, references).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { Ajv } from 'ajv';
import { REPO } from './project.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed document, walked by hand
type Doc = Record<string, any>;

const schema = JSON.parse(readFileSync(path.join(REPO, 'schemas/compose-spec/compose-spec.json'), 'utf8'));
delete schema.$schema; // draft-07, ajv's default; its https URL is not a meta-schema ajv knows by that name
const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(schema);

/** A Go duration as Compose parses them: `1m30s`, `500ms`, `1.5h`. */
const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const BYTES = /^\d+(\.\d+)?([kmgt]?b?)?$/i;
const RESTART = new Set(['no', 'always', 'on-failure', 'unless-stopped']);

function ownChecks(doc: Doc): string[] {
  const problems: string[] = [];
  const services: Record<string, Doc> = doc.services ?? {};
  const duration = (where: string, value: unknown) => {
    if (value !== undefined && !(typeof value === 'string' && DURATION.test(value)))
      problems.push(`${where}: "${value}" is not a duration`);
  };
  for (const [name, s] of Object.entries(services)) {
    const at = `services.${name}`;
    if (s.restart !== undefined && !RESTART.has(s.restart) && !/^on-failure:\d+$/.test(s.restart))
      problems.push(`${at}.restart: "${s.restart}" is not no, always, on-failure[:N] or unless-stopped`);
    duration(`${at}.stop_grace_period`, s.stop_grace_period);
    const h = s.healthcheck;
    if (h) {
      for (const k of ['interval', 'timeout', 'start_period', 'start_interval'])
        duration(`${at}.healthcheck.${k}`, h[k]);
      if (!Array.isArray(h.test) || !['CMD', 'CMD-SHELL', 'NONE'].includes(h.test[0]))
        problems.push(`${at}.healthcheck.test: must start with CMD, CMD-SHELL or NONE`);
    }
    const limits = s.deploy?.resources?.limits;
    if (limits?.memory !== undefined && !BYTES.test(String(limits.memory)))
      problems.push(`${at}.deploy.resources.limits.memory: "${limits.memory}" is not a size`);
    if (limits?.cpus !== undefined && !(Number(limits.cpus) > 0))
      problems.push(`${at}.deploy.resources.limits.cpus: "${limits.cpus}" is not a number of CPUs`);
    for (const dep of Object.keys(s.depends_on ?? {}))
      if (!services[dep]) problems.push(`${at}.depends_on: no service "${dep}"`);
    for (const c of s.configs ?? [])
      if (!doc.configs?.[c.source]) problems.push(`${at}.configs: no top-level config "${c.source}"`);
    for (const p of s.ports ?? []) {
      if (typeof p === 'object' && p.published !== undefined && !/^\d+$/.test(String(p.published)))
        problems.push(`${at}.ports: published "${p.published}" is not a port`);
      // Docker and podman publish on an address: `cannot parse "localhost" as an IP address`.
      if (typeof p === 'object' && p.host_ip !== undefined && !isIP(String(p.host_ip)))
        problems.push(`${at}.ports: host_ip "${p.host_ip}" is not an IP address`);
    }
  }
  return problems;
}

/** Every problem found; empty when the document is valid. */
export function validateCompose(doc: Doc): string[] {
  const problems: string[] = [];
  if (!validateSchema(doc))
    for (const e of validateSchema.errors ?? [])
      problems.push(`${e.instancePath || '/'}: ${e.message} ${JSON.stringify(e.params)}`);
  return [...problems, ...ownChecks(doc)];
}
