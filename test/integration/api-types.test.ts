// The types docs/api.md and docs/cli.md name are exported by the package, and a TypeScript caller's use
// of them compiles: a small .ts file importing 'msupervisor' (the built package), checked by tsc.
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, useProject } from '../helpers/project.js';

const project = useProject();

const caller = `import { createSupervisor, type InstanceStatus, type ServiceStatus, type StartOptions, type StatusV1 } from 'msupervisor';

const options: StartOptions = { runtime: 'function', wait: false, admin: { port: 0 } };
const sup = createSupervisor(options);
const status: StatusV1 = await sup.status(0);
const service: ServiceStatus | undefined = status.services[0];
const instance: InstanceStatus | undefined = service?.instances[0];
const where: string | undefined = instance?.runtime;
const probe: boolean | undefined = instance?.lastProbe?.ok;
const exit: number | null | undefined = instance?.lastExit?.code;
console.log(where, probe, exit, instance?.endpoint?.port, instance?.id);
`;

describe('the exported types', () => {
  it('StatusV1 (its services and instances) and StartOptions type-check in a caller', async () => {
    const p = project();
    mkdirSync(path.join(p.root, 'node_modules'));
    symlinkSync(REPO, path.join(p.root, 'node_modules', 'msupervisor'));
    p.write('caller.ts', caller);
    p.write(
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['caller.ts'],
      }),
    );
    // A module file for top-level await.
    p.write('package.json', JSON.stringify({ type: 'module' }));
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: p.root, stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(out).toBe('');
    expect(code).toBe(0);
  });
});
