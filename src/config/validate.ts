// Schema check of a raw config: every problem at once, each with its dotted path. Pure.
import type { ConfigIssue } from '../errors.js';
import { configSchema, type ValidConfig } from './schema.js';

export type ValidationResult = { ok: true; value: ValidConfig } | { ok: false; issues: ConfigIssue[] };

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Checks across services, run on the raw input so they report even when other fields are wrong. */
function crossChecks(input: unknown): ConfigIssue[] {
  const services = (input as { services?: unknown } | null)?.services;
  if (!services || typeof services !== 'object' || Array.isArray(services)) return [];
  const issues: ConfigIssue[] = [];
  const byPort = new Map<number, string>();
  for (const [name, service] of Object.entries(services)) {
    if (!SERVICE_NAME.test(name)) {
      issues.push({
        path: `services.${name}`,
        message: 'a service name uses letters, digits, "-", "_" and "." and starts with a letter or digit',
      });
    }
    const port = (service as { port?: unknown } | null)?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port === 0) continue;
    const other = byPort.get(port);
    if (other === undefined) byPort.set(port, name);
    else
      issues.push({
        path: `services.${name}.port`,
        message: `port ${port} is already the front port of service "${other}"`,
      });
  }
  return issues;
}

export function validateConfig(input: unknown): ValidationResult {
  const result = configSchema.safeParse(input);
  const issues = result.success
    ? []
    : result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.') || '(root)',
        message: issue.message,
      }));
  issues.push(...crossChecks(input));
  if (result.success && issues.length === 0) return { ok: true, value: result.data };
  return { ok: false, issues };
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n');
}
