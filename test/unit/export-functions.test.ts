// The serverless exports of the demo: an AWS SAM template (valid against the pinned SAM schema and msup's
// checks) and Knative Services (valid against @kubernetes-models/knative and the strict key check), each
// lossy mapping a warning that names its key; and the checks catch what is wrong.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfigFile, prepareConfig } from '../../src/config/load.js';
import { Warnings } from '../../src/export/common.js';
import { knativeServices } from '../../src/export/knative.js';
import { logicalId, SAM_RUNTIME, samTemplate } from '../../src/export/sam.js';
import { toYaml } from '../../src/export/yaml.js';
import type { ResolvedConfig } from '../../src/types.js';
import { kubeEnvironment, kubeExpand } from '../helpers/k8s-expand.js';
import { validateKnative } from '../helpers/knative-validate.js';
import { REPO } from '../helpers/project.js';
import { validateSam } from '../helpers/sam-validate.js';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents, walked by hand
type Doc = Record<string, any>;

const images = (config: ResolvedConfig) =>
  new Map(config.services.map((s) => [s.name, `localhost/msup-${s.name}:0123456789ab`]));

/** Written as YAML and read back: what SAM CLI and kubectl would read. */
function exported(config: ResolvedConfig, ownImages: ReadonlySet<string> = new Set()) {
  const samWarnings = new Warnings();
  const knWarnings = new Warnings();
  const sam = YAML.parse(toYaml([samTemplate(config, samWarnings)], ['header'])) as Doc;
  const knative = YAML.parseAllDocuments(
    toYaml(knativeServices(config, 'shop', images(config), knWarnings, ownImages), ['h']),
  ).map((d) => d.toJS()) as Doc[];
  return { sam, knative, samWarnings: samWarnings.list, knWarnings: knWarnings.list };
}

describe('AWS SAM export', () => {
  it("of the demo: a function per HTTP service, valid against the SAM schema and msup's checks", async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { sam, samWarnings } = exported(config);
    expect(validateSam(sam)).toEqual([]);
    expect(Object.keys(sam.Resources)).toEqual(['WebApi', 'Web', 'ApiApi', 'Api', 'Hello']);
    expect(sam.Resources.Hello).toEqual({
      Type: 'AWS::Serverless::Function',
      Properties: {
        CodeUri: '.',
        Handler: 'fixtures/fns/hello.handler',
        Runtime: SAM_RUNTIME,
        Architectures: ['x86_64'],
        MemorySize: 128,
        Timeout: 3,
        ReservedConcurrentExecutions: 10,
        Environment: { Variables: { MSUP_SERVICE: 'hello', MSUP_INSTANCES: '1', MSUP_INSTANCE: '0' } },
        Events: {
          Http: { Type: 'HttpApi', Properties: { Path: '/hello', Method: 'ANY' } },
          HttpProxy: { Type: 'HttpApi', Properties: { Path: '/hello/{proxy+}', Method: 'ANY' } },
        },
      },
    });
    const web = sam.Resources.Web.Properties;
    expect(web).toMatchObject({
      Handler: 'run.sh',
      Layers: [{ 'Fn::Sub': expect.stringContaining('LambdaAdapterLayerX86') }],
      Environment: {
        Variables: {
          AWS_LAMBDA_EXEC_WRAPPER: '/opt/bootstrap',
          AWS_LWA_READINESS_CHECK_PATH: '/health',
          PORT: '8080',
        },
      },
      Events: { Http: { Properties: { Path: '/' } }, OwnApi: { Properties: { ApiId: { Ref: 'WebApi' } } } },
    });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
    expect(sam.Outputs.WebUrl.Value['Fn::Sub']).toContain('${WebApi}');
    expect(samWarnings.map((w) => w.key)).toEqual(
      expect.arrayContaining([
        'services.worker',
        'services.web.command',
        'services.web.instances',
        'services.api.dependsOn',
        'proxy.routes.0.stripPrefix',
        'services.hello.function.idleTimeout',
      ]),
    );
    expect(logicalId('my-api.v2')).toBe('MyApiV2');
    expect(logicalId('9lives')).toBe('Fn9lives');
  });

  it("gives CodeUri relative to the template's folder, with a warning for code outside it", () => {
    const config = prepareConfig(
      {
        services: {
          inside: { command: 'node a.js', port: 0, cwd: 'sub' },
          beside: { handler: 'f.handler', port: 0, cwd: '../app2/x' },
        },
      },
      '/x/app',
      null,
    );
    const template = (dir?: string) => {
      const warnings = new Warnings();
      const doc = YAML.parse(toYaml([samTemplate(config, warnings, dir)], ['h'])) as Doc;
      const uris = [doc.Resources.Inside.Properties.CodeUri, doc.Resources.Beside.Properties.CodeUri];
      return { doc, uris, warnings: warnings.list };
    };
    const inRoot = template();
    expect(validateSam(inRoot.doc)).toEqual([]);
    expect(inRoot.uris).toEqual(['sub', '../app2/x']);
    expect(inRoot.warnings.filter((w) => w.key.endsWith('.cwd'))).toEqual([
      {
        key: 'services.beside.cwd',
        message: expect.stringContaining("the code (/x/app2/x) is outside the template's folder (/x/app)"),
      },
    ]);
    // run.sh goes in the service's folder, named as it is.
    expect(inRoot.warnings).toContainEqual({
      key: 'services.inside.command',
      message: expect.stringContaining('put it in run.sh in /x/app/sub (CodeUri;'),
    });
    const inOut = template('/x/app/out');
    expect(inOut.uris).toEqual(['../sub', '../../app2/x']);
    expect(inOut.warnings.filter((w) => w.key.endsWith('.cwd')).map((w) => w.key)).toEqual([
      'services.inside.cwd',
      'services.beside.cwd',
    ]);
    expect(template('/x').uris).toEqual(['app/sub', 'app2/x']);
    expect(template('/x').warnings.filter((w) => w.key.endsWith('.cwd'))).toEqual([]);
  });

  it('the run.sh line it gives runs the command as msup does (quoted for the shell)', () => {
    const config = prepareConfig(
      {
        services: {
          line: { command: 'echo "one  two" | tr a-z A-Z', port: 0 },
          list: { command: [process.execPath, '-e', 'console.log(process.argv[1])', "it's $HOME"], port: 0 },
        },
      },
      '/project',
      null,
    );
    const { samWarnings } = exported(config);
    const runSh = (name: string) => {
      const message = samWarnings.find((w) => w.key === `services.${name}.command`)?.message ?? '';
      const line = /#!\/bin\/sh, then (exec .*)\)$/s.exec(message)?.[1] as string;
      const run = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8' });
      return run.stdout;
    };
    expect(runSh('line')).toBe('ONE  TWO\n');
    expect(runSh('list')).toBe("it's $HOME\n");
  });

  it('carries the function settings, and the checks catch a broken template', () => {
    const config = prepareConfig(
      {
        proxy: { port: 0, routes: [{ path: '/f', service: 'f' }] },
        services: {
          f: {
            handler: 'fns/f.handler',
            memory: 512,
            env: { Q: 'one letter', OK_1: 'kept', AWS_REGION: 'eu-west-1' },
            runtime: { function: { timeout: '20s', minInstances: 2, maxInstances: 5, concurrency: 4 } },
          },
        },
      },
      '/project',
      null,
    );
    const { sam, samWarnings } = exported(config);
    expect(validateSam(sam)).toEqual([]);
    expect(sam.Resources.F.Properties).toMatchObject({
      MemorySize: 512,
      Timeout: 20,
      ReservedConcurrentExecutions: 5,
      AutoPublishAlias: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    expect(samWarnings.map((w) => w.key)).toContain('services.f.function.concurrency');
    // A runtime AWS still creates functions on; Lambda refuses a one-letter variable name: left out, named.
    expect(sam.Resources.F.Properties.Runtime).toBe('nodejs24.x');
    expect(sam.Resources.F.Properties.Environment.Variables).toMatchObject({ OK_1: 'kept' });
    expect(sam.Resources.F.Properties.Environment.Variables.Q).toBeUndefined();
    expect(samWarnings).toContainEqual({
      key: 'services.f.env.Q',
      message: expect.stringContaining('not exported: Lambda takes variable names of two or more'),
    });
    // Nor a name Lambda sets itself (AWS_REGION, often set locally for the AWS SDK).
    expect(sam.Resources.F.Properties.Environment.Variables.AWS_REGION).toBeUndefined();
    expect(samWarnings).toContainEqual({
      key: 'services.f.env.AWS_REGION',
      message: expect.stringContaining('not exported: Lambda sets it itself'),
    });
    // nodejs24.x has no callback handlers, which msup runs: named.
    expect(samWarnings).toContainEqual({
      key: 'services.f.handler',
      message: expect.stringContaining('a callback handler (three parameters), which msup runs, fails there'),
    });

    const broken = structuredClone(sam);
    broken.Resources.F.Properties.MemorySiz = 1;
    broken.Resources.F.Properties.Timeout = 901;
    broken.Resources.F.Properties.Events.Http.Properties.ApiId = { Ref: 'Nowhere' };
    broken.Extra = true;
    broken.Resources.F.Properties.Runtime = 'nodejs20.x';
    broken.Resources.F.Properties.Environment.Variables.Q = '1';
    const problems = validateSam(broken).join('\n');
    expect(problems).toContain('F: Runtime nodejs20.x: Lambda creates no function on it since 2026-06-01');
    expect(problems).toContain('F: variable name Q');
    expect(problems).toContain('schema:');
    expect(problems).toContain('F: Timeout 901');
    expect(problems).toContain('F: Ref Nowhere is not a resource');
    expect(problems).toContain('unknown top-level key Extra');
  });
});

describe('both serverless exports', () => {
  it('name function.bootstrap and function.initTimeout, which neither carries', () => {
    const config = prepareConfig(
      {
        services: {
          custom: {
            handler: 'fns/f.handler',
            port: 0,
            function: { bootstrap: ['node', 'ric.js'], initTimeout: '30s' },
          },
          plain: { handler: 'fns/g.handler', port: 0 },
        },
      },
      '/project',
      null,
    );
    const { sam, knative, samWarnings, knWarnings } = exported(config);
    expect(validateSam(sam)).toEqual([]);
    expect(validateKnative(knative)).toEqual([]);
    for (const warnings of [samWarnings, knWarnings]) {
      const keys = warnings.map((w) => w.key);
      expect(keys).toEqual(
        expect.arrayContaining([
          'services.custom.function.bootstrap',
          'services.custom.function.initTimeout',
        ]),
      );
      // At their defaults (msup's bootstrap, 10 s), nothing to say.
      expect(keys).not.toContain('services.plain.function.bootstrap');
      expect(keys).not.toContain('services.plain.function.initTimeout');
    }
    expect(samWarnings).toContainEqual({
      key: 'services.custom.function.bootstrap',
      message: expect.stringContaining('a custom runtime is Runtime provided.al2023'),
    });
  });
});

describe('Knative export', () => {
  it('of the demo re-targeted: a Service per HTTP service with concurrency, timeout and scale annotations', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    const { knative, knWarnings } = exported(config);
    expect(validateKnative(knative)).toEqual([]);
    expect(knative.map((m) => m.metadata.name)).toEqual(['web', 'api', 'hello']);
    const hello = knative[2] as Doc;
    expect(hello.spec.template.metadata.annotations).toEqual({
      'autoscaling.knative.dev/min-scale': '0',
      'autoscaling.knative.dev/max-scale': '10',
      'autoscaling.knative.dev/target': '1',
      'autoscaling.knative.dev/window': '30s',
    });
    expect(hello.spec.template.spec).toMatchObject({ containerConcurrency: 1, timeoutSeconds: 3 });
    const container = hello.spec.template.spec.containers[0];
    expect(container).toMatchObject({
      image: 'localhost/msup-hello:0123456789ab',
      command: [
        'node',
        expect.stringMatching(/dist\/runtime\/function\/serve\.js$/),
        'fixtures/fns/hello.handler',
      ],
      ports: [{ containerPort: 8080 }],
      resources: { limits: { memory: '128Mi' } },
    });
    const web = knative[0] as Doc;
    expect(web.spec.template.spec.containers[0].readinessProbe).toEqual({ httpGet: { path: '/health' } });
    expect(knWarnings.map((w) => w.key)).toEqual(
      expect.arrayContaining([
        'services.worker',
        'services.api.port',
        'proxy.routes.0',
        'services.hello.function.overflow',
      ]),
    );
  });

  it('keeps every $ as written: the kubelet reduces $$ to $ and expands $(VAR) in commands and env', () => {
    const values = ['pa$$word', '$(HOME)', '$$(HOME)', '$5', 'ends in $', 'caf$é'];
    const env = Object.fromEntries(values.map((v, i) => [`V${i}`, v]));
    const line = 'echo "$(date)" $$ $(HOME)';
    const config = prepareConfig(
      { services: { k: { command: `${line} | cat`, port: 0, env: { HOME: '/h', ...env }, function: {} } } },
      '/project',
      null,
    );
    const { knative } = exported(config);
    expect(validateKnative(knative)).toEqual([]);
    const container = knative[0]?.spec.template.spec.containers[0] as Doc;
    const vars = kubeEnvironment(container.env);
    for (const [name, value] of Object.entries(env)) expect(vars[name], name).toBe(value);
    expect(container.command.map((a: string) => kubeExpand(a, vars))).toEqual([
      '/bin/sh',
      '-c',
      `${line} | cat`,
    ]);
  });

  it("keeps an image's own ENTRYPOINT and WORKDIR (args), as msup and the Kubernetes export do; the minimal image's command whole", () => {
    const config = prepareConfig(
      {
        services: {
          own: { command: ['serve', '--port=8080'], port: 0, container: { image: 'localhost/app:1' } },
          web: { command: ['node', 's.js'], port: 0 },
        },
      },
      '/project',
      null,
    );
    const { knative } = exported(config, new Set(['own']));
    expect(validateKnative(knative)).toEqual([]);
    const container = (name: string) =>
      knative.find((m) => m.metadata.name === name)?.spec.template.spec.containers[0] as Doc;
    const own = container('own');
    expect([own.args, own.command, own.workingDir]).toEqual([['serve', '--port=8080'], undefined, undefined]);
    const web = container('web');
    expect([web.args, web.command, web.workingDir]).toEqual([undefined, ['node', 's.js'], '/project']);
  });

  it('takes the knative profile as it is, and the checks catch a broken Service', () => {
    const config = prepareConfig(
      {
        services: { k: { command: 'node k.js', port: 0, function: { profile: 'knative', minInstances: 1 } } },
      },
      '/project',
      null,
    );
    const { knative, knWarnings } = exported(config);
    expect(validateKnative(knative)).toEqual([]);
    expect(knative[0]?.spec.template.metadata.annotations).toMatchObject({
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/target': '100',
      'autoscaling.knative.dev/window': '60s',
    });
    expect(knative[0]?.spec.template.spec).toMatchObject({ containerConcurrency: 0, timeoutSeconds: 300 });
    expect(knWarnings.map((w) => w.key)).not.toContain('services.k.function.overflow');

    const broken = (change: (m: Doc) => void) => {
      const copy = structuredClone(knative[0]) as Doc;
      change(copy);
      return validateKnative([copy]).join('\n');
    };
    expect(broken((m) => (m.spec.template.spec.containerConcurrenc = 1))).toContain(
      '\'"containerConcurrenc"\' does not exist',
    );
    expect(broken((m) => (m.spec.template.spec.timeoutSeconds = 'long'))).toContain('timeoutSeconds');
    const annotations = (key: string, value: string) => (m: Doc) => {
      m.spec.template.metadata.annotations[key] = value;
    };
    expect(broken(annotations('autoscaling.knative.dev/min-scale', '11'))).toContain(
      'min-scale 11 is above max-scale 10',
    );
    expect(broken(annotations('autoscaling.knative.dev/mx-scale', '1'))).toContain(
      'unknown annotation autoscaling.knative.dev/mx-scale',
    );
  });
});
