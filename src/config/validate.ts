// Schema check of a raw config: every problem at once, each with its dotted path. Pure.
import type { ConfigIssue } from '../errors.js';
import { configSchema, type ValidConfig } from './schema.js';

export type ValidationResult = { ok: true; value: ValidConfig } | { ok: false; issues: ConfigIssue[] };

export function validateConfig(input: unknown): ValidationResult {
  const result = configSchema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  return { ok: false, issues };
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n');
}
