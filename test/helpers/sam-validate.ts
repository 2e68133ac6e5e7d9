// Validates an AWS SAM template: the pinned SAM JSON schema (schemas/sam/), plus msup's own checks of what
// the schema does not make (the template's own keys, Lambda's limits, references to resources).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { REPO } from './project.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed document, walked by hand
type Doc = Record<string, any>;

const schema = JSON.parse(readFileSync(path.join(REPO, 'schemas/sam/sam.schema.json'), 'utf8'));
delete schema.$schema; // draft-04; the parts it uses read the same under ajv's default draft
const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(schema);

const TOP = new Set([
  'AWSTemplateFormatVersion',
  'Transform',
  'Description',
  'Globals',
  'Resources',
  'Outputs',
]);

/**
 * Lambda's Node.js runtimes and the day each stops taking new functions (AWS Lambda Developer Guide,
 * "Building Lambda functions with Node.js", its table of supported runtimes; cfn-lint's E2533 reads the
 * same dates), as read on TABLE_READ: a template on one past that day cannot be deployed. Judged on the
 * day the table was read, not on today's, so that the suite gives the same answer every day; the table
 * and the export's runtime (src/export/sam.ts) are to be read again before nodejs24.x's day.
 */
const NODE_RUNTIMES: Record<string, string> = {
  'nodejs20.x': '2026-06-01',
  'nodejs22.x': '2027-06-01',
  'nodejs24.x': '2028-06-01',
};
const TABLE_READ = '2026-12-06';

/** A Lambda runtime that took new functions on the day the table was read, or why not. */
function runtimeProblem(runtime: unknown): string | null {
  const blocked = NODE_RUNTIMES[String(runtime)];
  if (!blocked) return `Runtime ${runtime} is not a Node.js runtime of Lambda's`;
  if (Date.parse(TABLE_READ) >= Date.parse(blocked))
    return `Runtime ${runtime}: Lambda creates no function on it since ${blocked}`;
  return null;
}

/** Lambda's reserved variable names ("Defined runtime environment variables"; cfn-lint's E3663). */
const RESERVED = new Set(
  '_HANDLER _X_AMZN_TRACE_ID AWS_DEFAULT_REGION AWS_REGION AWS_EXECUTION_ENV AWS_LAMBDA_FUNCTION_NAME AWS_LAMBDA_FUNCTION_MEMORY_SIZE AWS_LAMBDA_FUNCTION_VERSION AWS_LAMBDA_INITIALIZATION_TYPE AWS_LAMBDA_LOG_GROUP_NAME AWS_LAMBDA_LOG_STREAM_NAME AWS_ACCESS_KEY AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_LAMBDA_RUNTIME_API LAMBDA_TASK_ROOT LAMBDA_RUNTIME_DIR'.split(
    ' ',
  ),
);

function ownChecks(doc: Doc): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(doc)) if (!TOP.has(key)) problems.push(`unknown top-level key ${key}`);
  if (doc.AWSTemplateFormatVersion !== '2010-09-09')
    problems.push('AWSTemplateFormatVersion is not 2010-09-09');
  if (doc.Transform !== 'AWS::Serverless-2016-10-31')
    problems.push('Transform is not AWS::Serverless-2016-10-31');
  const resources: Doc = doc.Resources ?? {};
  const refs = (value: unknown): string[] =>
    value && typeof value === 'object'
      ? Object.entries(value).flatMap(([k, v]) => (k === 'Ref' && typeof v === 'string' ? [v] : refs(v)))
      : [];
  for (const [id, r] of Object.entries(resources)) {
    if (!/^[A-Za-z0-9]+$/.test(id)) problems.push(`${id}: a logical id has letters and digits only`);
    for (const ref of refs(r)) if (!(ref in resources)) problems.push(`${id}: Ref ${ref} is not a resource`);
    if (r.Type !== 'AWS::Serverless::Function') continue;
    const p = r.Properties ?? {};
    if (!(p.MemorySize >= 128 && p.MemorySize <= 10_240)) problems.push(`${id}: MemorySize ${p.MemorySize}`);
    if (!(p.Timeout >= 1 && p.Timeout <= 900)) problems.push(`${id}: Timeout ${p.Timeout}`);
    const runtime = runtimeProblem(p.Runtime);
    if (runtime) problems.push(`${id}: ${runtime}`);
    // cfn-lint's E3002, as CreateFunction: `Q` is refused.
    for (const name of Object.keys(p.Environment?.Variables ?? {}))
      if (!/^[a-zA-Z][a-zA-Z0-9_]+$/.test(name)) problems.push(`${id}: variable name ${name}`);
      else if (RESERVED.has(name)) problems.push(`${id}: reserved variable ${name}`);
    if (typeof p.Handler !== 'string' || !p.Handler.includes('.'))
      problems.push(`${id}: Handler ${p.Handler}`);
    for (const [name, e] of Object.entries(p.Events ?? {}) as [string, Doc][])
      if (
        e.Type === 'HttpApi' &&
        e.Properties?.Path !== undefined &&
        !String(e.Properties.Path).startsWith('/')
      )
        problems.push(`${id}.Events.${name}: Path ${e.Properties.Path}`);
  }
  return problems;
}

/** Every problem found; empty when the template is valid. */
export function validateSam(doc: Doc): string[] {
  const problems: string[] = [];
  if (!validateSchema(doc)) {
    // A resource matches one of the schema's types (anyOf): name the properties the Function type rejects.
    const errors = validateSchema.errors ?? [];
    const own = errors.filter((e) => e.keyword === 'additionalProperties' || e.keyword === 'type');
    for (const e of own.length > 0 ? own : errors.slice(0, 5))
      problems.push(`schema: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }
  return [...problems, ...ownChecks(doc)];
}
