// Loading a config file that is wrong in the ways people get it wrong: no default export, a JSON syntax
// error (with its line and column), a mistyped key (with the key it should be).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonErrorOffset } from '../../src/config/json-error.js';
import { loadConfigFile } from '../../src/config/load.js';
import { loadConfigEarly, loadConfigIsolated } from '../../src/config/load-isolated.js';
import { MsupError } from '../../src/errors.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

async function loadError(name: string, content: string): Promise<MsupError> {
  const p = project();
  p.write(name, content);
  const error = await loadConfigFile({ cwd: p.root }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof MsupError)) throw new Error(`expected an MsupError, got ${String(error)}`);
  return error;
}

describe('loading a config file', () => {
  it('says that the default export is missing, and what the file exports instead', async () => {
    const error = await loadError(
      'supervisor.config.ts',
      "export const config = { services: { web: { command: 'node a.js' } } };\n",
    );
    expect(error.code).toBe('MSUP_CONFIG_LOAD');
    expect(error.message).toMatch(/supervisor\.config\.ts has no default export \(it exports "config"\)/);
    expect(error.message).toContain('export default defineConfig(');
    const empty = await loadError('supervisor.config.mjs', '// nothing yet\n');
    expect(empty.message).toMatch(/supervisor\.config\.mjs has no default export; write/);
  });

  it('takes a default export of null or undefined for the value it is: an invalid config', async () => {
    for (const [name, value, got] of [
      ['supervisor.config.ts', 'null', 'null'],
      ['supervisor.config.mjs', 'null', 'null'],
      ['supervisor.config.mjs', 'undefined', 'nothing'],
    ] as const) {
      const error = await loadError(name, `export default ${value};\n`);
      expect(error.code).toBe('MSUP_CONFIG_INVALID');
      expect(error.issues).toEqual([{ path: '(root)', message: `expected an object, got ${got}` }]);
    }
    // A CommonJS config is still its module.exports.
    const cjs = await loadError(
      'supervisor.config.js',
      "module.exports = { services: { web: { command: 'x', instances: -1 } } };\n",
    );
    expect(cjs.issues.map((i) => i.path)).toEqual(['services.web.instances']);
  });

  it('refuses an env file with a line that is not KEY=value, naming the file and the line', async () => {
    const p = project();
    p.write('.env', '# settings\nA=1\nexport B=2\n\nPASSWORD hunter2\n');
    p.write('supervisor.config.json', JSON.stringify({ services: { web: { command: 'x' } } }));
    const error = await loadConfigFile({ cwd: p.root }).then(
      () => undefined,
      (e: unknown) => e as MsupError,
    );
    expect(error?.code).toBe('MSUP_CONFIG_INVALID');
    expect(error?.issues).toEqual([
      {
        path: `${path.join(p.root, '.env')}:5`,
        message: 'expected KEY=value (or export KEY=value), a # comment or a blank line',
      },
    ]);
    // The line may hold a secret: it is not repeated.
    expect(error?.message).not.toContain('hunter2');
  });

  it('places a JSON syntax error at its line and column', async () => {
    const error = await loadError(
      'supervisor.config.json',
      '{\n  "services": {\n    "web": { "command": "node a.js", }\n  }\n}\n',
    );
    expect(error.code).toBe('MSUP_CONFIG_LOAD');
    expect(error.message).toMatch(/supervisor\.config\.json: invalid JSON at line 3, column 38: /);
    const token = await loadError('supervisor.config.json', '{\n  "services": }\n');
    expect(token.message).toMatch(/invalid JSON at line 2, column 15: Unexpected token '?}'?/);
    const trailing = await loadError('supervisor.config.json', '{ "services": {} }\nx\n');
    expect(trailing.message).toMatch(/invalid JSON at line 2, column 1: /);
  });

  it('suggests the key a mistyped one should be', async () => {
    const error = await loadError(
      'supervisor.config.json',
      JSON.stringify({ services: { web: { command: 'node a.js', instaces: 2, colour: 'red' } } }),
    );
    expect(error.code).toBe('MSUP_CONFIG_INVALID');
    expect(error.issues).toEqual([
      {
        path: 'services.web',
        message: 'unknown key "instaces" (did you mean "instances"?), "colour"',
      },
    ]);
    const top = await loadError('supervisor.config.json', JSON.stringify({ service: {} }));
    expect(top.message).toContain('unknown key "service" (did you mean "services"?)');
  });
});

describe('jsonErrorOffset', () => {
  it('finds nothing wrong in valid JSON, whatever JSON.parse accepts', () => {
    for (const text of [
      '{}',
      ' [1, -2.5e+3, 0, 1E2, "a\\n\\u00e9\\"", true, false, null, {"a": [[]]}] ',
      '"x"',
      '0',
    ]) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonErrorOffset(text)).toBeUndefined();
    }
  });

  it('points at the first character that is not JSON', () => {
    expect(jsonErrorOffset('{"a": 01}')).toBe(7);
    expect(jsonErrorOffset('[1, 2')).toBe(5);
    expect(jsonErrorOffset('{"a" 1}')).toBe(5);
    expect(jsonErrorOffset('["\\x"]')).toBe(3);
    expect(jsonErrorOffset('[tru]')).toBe(4);
    expect(jsonErrorOffset('')).toBe(0);
  });
});

describe('a config load started early (msup start: while the supervisor code loads)', () => {
  it('hands its answer to the next load with the same options, once; other options load afresh', async () => {
    const p = project();
    p.writeConfig({ web: { command: 'node a.js', instances: 2 } });
    const early = loadConfigEarly({ cwd: p.root });
    expect(loadConfigIsolated({ cwd: p.root })).toBe(early);
    expect((await early).services[0]?.instances).toBe(2);
    // Taken once: the next load reads the file again.
    p.writeConfig({ web: { command: 'node a.js', instances: 3 } });
    const again = loadConfigIsolated({ cwd: p.root });
    expect(again).not.toBe(early);
    expect((await again).services[0]?.instances).toBe(3);
    // Other options (another runtime) do not take it.
    const second = loadConfigEarly({ cwd: p.root });
    const other = loadConfigIsolated({ cwd: p.root, runtime: 'function' });
    expect(other).not.toBe(second);
    expect((await other).services[0]?.instances).toBe(3);
    await second;
  });

  it("passes an early load's error to whoever takes it", async () => {
    const p = project();
    p.writeConfig({ web: { command: 'node a.js', instances: 0 } });
    loadConfigEarly({ cwd: p.root });
    const error = await loadConfigIsolated({ cwd: p.root }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MsupError);
    expect((error as MsupError).code).toBe('MSUP_CONFIG_INVALID');
  });
});
