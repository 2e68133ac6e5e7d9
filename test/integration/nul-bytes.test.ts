// A NUL byte cannot reach a process: in the config it is a validation error with its path, in a
// `.env` file read at start too, and in a `.env` edited later the value is left out (and logged).
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';
import type { LogRecord } from '../../src/types.js';
import { getJson } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

const issues = (input: unknown) => {
  const result = validateConfig(input);
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('NUL bytes and other strings no process can take', () => {
  it('are config errors, each with its path', () => {
    expect(
      issues({
        services: {
          w: {
            command: ['node', 'a\u0000b'],
            cwd: 'x\u0000',
            env: { A: 'a\u0000b', 'B\u0000': 'x', 'C=D': 'y', '': 'z' },
            health: { http: '/he alth' },
          },
        },
      }),
    ).toEqual(
      expect.arrayContaining([
        'services.w.command.1: contains a NUL byte',
        'services.w.cwd: contains a NUL byte',
        'services.w.env.A: contains a NUL byte',
        'services.w.env.B\\u0000: the name contains a NUL byte',
        'services.w.env.C=D: an environment variable name cannot be empty or contain "="',
        'services.w.env.: an environment variable name cannot be empty or contain "="',
        'services.w.health.http: expected a path with no spaces or control characters, got "/he alth"',
      ]),
    );
  });

  it('a config with one starts nothing: start() fails at once with MSUP_CONFIG_INVALID', async () => {
    const p = project();
    const config = p.config({ w: { command: node('worker.js'), env: { A: 'a\u0000b' } } });
    await expect(p.start({ config, timeout: '5s' })).rejects.toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      issues: [{ path: 'services.w.env.A', message: 'contains a NUL byte' }],
    });
  });

  it('a .env value with one fails the start, naming the file; edited in later, it is left out', async () => {
    const p = project();
    const file = p.write('.env', 'GOOD=1\nBAD=a\u0000b\n');
    const config = p.config({
      web: { command: node('echo-server.js'), port: 0, env: { ECHO_ENV: 'GOOD,BAD' } },
    });
    await expect(p.start({ config, timeout: '5s' })).rejects.toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      issues: [{ path: file, message: 'the value of BAD contains a NUL byte' }],
    });

    p.write('.env', 'GOOD=1\nBAD=fine\n');
    const sup = p.create({ config });
    const logs: LogRecord[] = [];
    sup.on('log', (record) => logs.push(record));
    await sup.start();
    expect((await getJson<{ env: object }>(sup.url('web'))).env).toEqual({ GOOD: '1', BAD: 'fine' });
    p.write('.env', 'GOOD=2\nBAD=a\u0000b\n');
    await sup.restart('web');
    expect((await getJson<{ env: object }>(sup.url('web'))).env).toEqual({ GOOD: '2', BAD: null });
    expect(
      await waitFor(() =>
        logs.some((r) => r.msg === 'env file value left out: it contains a NUL byte' && r.key === 'BAD'),
      ),
    ).toBe(true);
  });
});
