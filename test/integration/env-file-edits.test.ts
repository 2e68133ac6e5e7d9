// An env file is checked at load and reload; one edited later, with a line that is not KEY=value, is read
// at the next launch (a restart, a crash restart): that launch says so, naming the file, the line and the
// service, and uses the file as last read without such a line.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/types.js';
import { getJson } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('an env file broken after start', () => {
  it('is named at every launch that reads it, which keeps the file as last read whole', async () => {
    const p = project();
    const file = p.write('app.env', 'A=1\nB=2\n');
    const sup = p.create({
      watch: false,
      config: p.config({
        web: { command: node('echo-server.js'), port: 0, env_file: 'app.env', env: { ECHO_ENV: 'A,B,C' } },
      }),
    });
    const logs: LogRecord[] = [];
    sup.on('log', (record) => logs.push(record));
    await sup.start();
    const env = async () => (await getJson<{ env: object }>(sup.url('web'))).env;
    expect(await env()).toEqual({ A: '1', B: '2', C: null });
    const broken = () => logs.filter((r) => r.level === 'warn' && r.file === file && r.line !== undefined);
    expect(broken()).toEqual([]);

    // B's line loses its `=`: the launch keeps B (and does not take C, from the same edit), and says why.
    p.write('app.env', 'A=1\nB 2\nC=3\n');
    await sup.restart('web');
    expect(await env()).toEqual({ A: '1', B: '2', C: null });
    expect(broken()).toEqual([
      expect.objectContaining({
        service: 'web',
        file,
        line: 2,
        msg: `${file}:2: not KEY=value; the file as last read without it is used`,
      }),
    ]);

    // A crash restart reads the file again, and says so again.
    const pid = sup.instances('web')[0]?.pid as number;
    process.kill(pid, 'SIGKILL');
    expect(await waitFor(() => broken().length === 2)).toBe(true);
    expect(
      await waitFor(() => sup.instances('web')[0]?.ready === true && sup.instances('web')[0]?.pid !== pid),
    ).toBe(true);
    expect(await env()).toEqual({ A: '1', B: '2', C: null });

    // Mended, the file is read as it is now, with no word.
    p.write('app.env', 'A=1\nB=4\nC=3\n');
    await sup.restart('web');
    expect(await env()).toEqual({ A: '1', B: '4', C: '3' });
    expect(broken()).toHaveLength(2);
  });

  it('with no earlier read of the file, leaves the line out and says so', async () => {
    const p = project();
    const file = path.join(p.root, 'later.env');
    const sup = p.create({
      watch: false,
      config: p.config({
        web: { command: node('echo-server.js'), port: 0, env_file: 'later.env', env: { ECHO_ENV: 'D,E' } },
      }),
    });
    const logs: LogRecord[] = [];
    sup.on('log', (record) => logs.push(record));
    await sup.start();
    expect(logs.filter((r) => r.msg === 'env_file not found')).toHaveLength(1);
    p.write('later.env', 'D=4\nexport E: 5\n');
    await sup.restart('web');
    expect((await getJson<{ env: object }>(sup.url('web'))).env).toEqual({ D: '4', E: null });
    expect(logs.filter((r) => r.file === file && r.line !== undefined)).toEqual([
      expect.objectContaining({
        service: 'web',
        line: 2,
        msg: `${file}:2: not KEY=value; the line is left out`,
      }),
    ]);
  });
});
