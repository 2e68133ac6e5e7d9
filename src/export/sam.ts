// `msup export sam`: an AWS SAM template (template.yaml) with an AWS::Serverless::Function per HTTP
// service: a handler as itself, a command behind the AWS Lambda Web Adapter layer. MemorySize, Timeout,
// concurrency and HttpApi events from the function settings and the shared front's routes. Pure.
import path from 'node:path';
import { FUNCTION_DEFAULTS } from '../config/function-defaults.js';
import { peerVariable } from '../config/peer-variable.js';
import { FUNCTION_MEMORY } from '../config/size.js';
import { shellQuote } from '../project/watchdog.js';
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { argv, environment, toSeconds, type Warnings } from './common.js';
import { functionServices, routesTo, serverlessWarnings } from './functions.js';
import { basePath, checkLogicalIds, checkSharedPaths, logicalId, sharedRoutes } from './sam-names.js';

export { logicalId };

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation document, built by hand
type Doc = Record<string, any>;

/**
 * The Lambda runtime the functions run on. AWS's table of Node.js runtimes (Lambda Developer Guide,
 * "Building Lambda functions with Node.js") deprecates nodejs20.x on 2026-04-30 and refuses to create a
 * function on it from 2026-06-01 (cfn-lint E2533 rejects it); nodejs22.x goes on 2027-04-30, nodejs24.x on
 * 2028-04-30. Its Node is newer than msup's minimum (20): a handler that runs on msup runs there, except a
 * callback handler, which Lambda takes on nodejs22.x and earlier only (a warning says so).
 */
export const SAM_RUNTIME = 'nodejs24.x';
/** The names Lambda takes for environment variables (CreateFunction refuses others, `Q` included). */
const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]+$/;
/**
 * The names Lambda sets itself and refuses in a function's configuration (Lambda Developer Guide, "Defined
 * runtime environment variables", its reserved keys; cfn-lint's E3663 reads the same list).
 */
const RESERVED_VARIABLES = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);
/** AWS Lambda Web Adapter (github.com/awslabs/aws-lambda-web-adapter), x86_64 layer, version 25. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not JavaScript's
export const WEB_ADAPTER_LAYER = 'arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:25';
/** Lambda's limits: memory 128 to 10,240 MB (FUNCTION_MEMORY), timeout up to 900 s. */
const MEMORY = FUNCTION_MEMORY;
const MAX_TIMEOUT_S = 900;

function events(config: ResolvedConfig, s: ResolvedService, id: string, resources: Doc, warnings: Warnings) {
  const routes = sharedRoutes(config, s);
  const found: Doc = {};
  for (const route of routesTo(config, s))
    if (route.host)
      warnings.add(
        `proxy.routes.${config.proxy.routes.indexOf(route)}.host`,
        'an HttpApi route matches paths only: the host is not exported',
      );
  routes.forEach((route, i) => {
    const base = basePath(route.path);
    if (route.stripPrefix)
      warnings.add(
        `proxy.routes.${config.proxy.routes.indexOf(route)}.stripPrefix`,
        `API Gateway passes the whole path (${base}/...) to the function: strip it in the function`,
      );
    const n = routes.length > 1 ? String(i + 1) : '';
    found[`Http${n}`] = { Type: 'HttpApi', Properties: { Path: base === '' ? '/' : base, Method: 'ANY' } };
    found[`Http${n}Proxy`] = {
      Type: 'HttpApi',
      Properties: { Path: `${base}/{proxy+}`, Method: 'ANY' },
    };
  });
  if (s.port !== null) {
    // Its own front port: an API of its own, every path to the function ($default route).
    resources[`${id}Api`] = { Type: 'AWS::Serverless::HttpApi' };
    found.OwnApi = { Type: 'HttpApi', Properties: { ApiId: { Ref: `${id}Api` } } };
  }
  return found;
}

/**
 * A service's folder as SAM reads `CodeUri`: relative to the template's folder. Code outside that folder
 * (`../app2`) is named in a warning: the template works only where it was written, next to that code.
 */
function codeUri(s: ResolvedService, templateDir: string, warnings: Warnings): string {
  const uri = path.relative(templateDir, s.cwd) || '.';
  if (uri === '..' || uri.startsWith(`..${path.sep}`))
    warnings.add(
      `services.${s.name}.cwd`,
      `the code (${s.cwd}) is outside the template's folder (${templateDir}): CodeUri ${uri} holds only where the template was written, and sam build copies all of ${uri}; export into a folder that holds the code (--out)`,
    );
  return uri;
}

function functionResource(
  config: ResolvedConfig,
  s: ResolvedService,
  resources: Doc,
  warnings: Warnings,
  templateDir: string,
): Doc {
  const key = `services.${s.name}`;
  const fn = s.function;
  serverlessWarnings(s, warnings, 'Lambda');
  if (fn.profile === 'knative')
    warnings.add(
      `${key}.function.profile`,
      'Lambda runs its own semantics: the knative profile is not exported',
    );
  if (fn.initTimeoutMs !== FUNCTION_DEFAULTS.lambda.initTimeoutMs)
    warnings.add(
      `${key}.function.initTimeout`,
      "Lambda's init phase has its own limit (10 s on demand), not settable: not exported",
    );
  if (fn.bootstrap)
    warnings.add(
      `${key}.function.bootstrap`,
      `the function runs on Lambda's ${SAM_RUNTIME}, not this Runtime API client: a custom runtime is Runtime provided.al2023 with an executable named bootstrap in CodeUri (not exported)`,
    );
  if (fn.concurrency !== 1)
    warnings.add(
      `${key}.function.concurrency`,
      'Lambda gives each environment one request at a time: exported as 1',
    );
  if (fn.idleTimeoutMs !== 60_000 || fn.scaleToZeroGraceMs !== 0)
    warnings.add(`${key}.function.idleTimeout`, 'Lambda decides when idle environments end: not exported');
  const memory = Math.min(MEMORY.max, Math.max(MEMORY.min, fn.memoryMb));
  if (memory !== fn.memoryMb)
    warnings.add(`${key}.memory`, `Lambda takes ${MEMORY.min} to ${MEMORY.max} MB: exported as ${memory}`);
  let timeout = toSeconds(fn.timeoutMs, `${key}.function.timeout`, warnings);
  if (timeout > MAX_TIMEOUT_S) {
    warnings.add(
      `${key}.function.timeout`,
      `Lambda allows at most ${MAX_TIMEOUT_S} s: exported as ${MAX_TIMEOUT_S}`,
    );
    timeout = MAX_TIMEOUT_S;
  }
  const id = logicalId(s.name);
  const variables: Doc = Object.fromEntries(environment(s, warnings).filter(([k]) => k !== 'HOST'));
  for (const name of Object.keys(variables))
    if (RESERVED_VARIABLES.has(name)) {
      delete variables[name];
      warnings.add(
        `${key}.env.${name}`,
        'not exported: Lambda sets it itself and refuses it in a function configuration',
      );
    } else if (!VARIABLE_NAME.test(name)) {
      delete variables[name];
      warnings.add(
        `${key}.env.${name}`,
        'not exported: Lambda takes variable names of two or more letters, digits and _, starting with a letter (rename it)',
      );
    }
  const properties: Doc = {
    CodeUri: codeUri(s, templateDir, warnings),
    Runtime: SAM_RUNTIME,
    Architectures: ['x86_64'],
    MemorySize: memory,
    Timeout: timeout,
    ReservedConcurrentExecutions: fn.maxInstances,
  };
  if (s.handler) {
    properties.Handler = s.handler;
    delete variables.PORT;
    warnings.add(
      `${key}.handler`,
      `Lambda's ${SAM_RUNTIME} calls async handlers only: a callback handler (three parameters), which msup runs, fails there (return a promise, or set Runtime: nodejs22.x, deprecated on 2027-04-30)`,
    );
  } else {
    // The Lambda Web Adapter runs the command (run.sh) and passes each invocation to it as HTTP on PORT.
    properties.Handler = 'run.sh';
    properties.Layers = [{ 'Fn::Sub': WEB_ADAPTER_LAYER }];
    variables.AWS_LAMBDA_EXEC_WRAPPER = '/opt/bootstrap';
    if (fn.readiness.kind === 'http') variables.AWS_LWA_READINESS_CHECK_PATH = fn.readiness.path;
    warnings.add(
      `${key}.command`,
      `runs behind the Lambda Web Adapter: put it in run.sh in ${s.cwd} (CodeUri; #!/bin/sh, then exec ${shellQuote(argv(s.command, { exec: false }))})`,
    );
  }
  if (Object.keys(variables).length > 0) properties.Environment = { Variables: variables };
  if (fn.minInstances > 0) {
    properties.AutoPublishAlias = 'live';
    properties.ProvisionedConcurrencyConfig = { ProvisionedConcurrentExecutions: fn.minInstances };
  }
  properties.Events = events(config, s, id, resources, warnings);
  return { Type: 'AWS::Serverless::Function', Properties: properties };
}

/** The template, to be written in `templateDir` (the project folder unless given): CodeUri is relative to it. */
export function samTemplate(config: ResolvedConfig, warnings: Warnings, templateDir = config.root): Doc {
  const resources: Doc = {};
  const outputs: Doc = {};
  const services = functionServices(config, warnings, 'Lambda');
  const peers = config.services.filter((s) => s.port !== null).map((s) => peerVariable(s.name));
  if (peers.length > 0)
    warnings.add(
      'peers',
      `${peers.join(', ')} not set: a function's URL is known once the stack is deployed (the template's Outputs): give them to the functions yourself (Environment, or Parameters)`,
    );
  checkLogicalIds(config, services);
  checkSharedPaths(config, new Set(services.map((s) => s.name)));
  for (const s of services) {
    const id = logicalId(s.name);
    resources[id] = functionResource(config, s, resources, warnings, path.resolve(templateDir));
    if (resources[`${id}Api`])
      outputs[`${id}Url`] = {
        Description: `${s.name}'s own API (its front port in msup)`,
        Value: { 'Fn::Sub': `https://\${${id}Api}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/` },
      };
  }
  if (config.proxy.routes.length > 0 && Object.values(resources).some((r) => r.Properties?.Events?.Http))
    outputs.SharedFrontUrl = {
      Description: "the shared front's routes (msup's proxy.port)",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
      Value: { 'Fn::Sub': 'https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/' },
    };
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Transform: 'AWS::Serverless-2016-10-31',
    Description: `msup's services as AWS Lambda functions`,
    Resources: resources,
    ...(Object.keys(outputs).length > 0 ? { Outputs: outputs } : {}),
  };
}
