// A string command without shell syntax runs without /bin/sh: the pid msup shows is the app's own. One
// with shell syntax still runs in the shell.
import { describe, expect, it } from 'vitest';
import { getJson } from '../helpers/http.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

describe('string commands', () => {
  it('runs a plain string command directly: status shows the pid the app reports', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: `node ${fixture('echo-server.js')} --flag=1`, instances: 2, port: 0 },
      }),
    });
    const pids = new Set(sup.instances('web').map((i) => i.pid));
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) seen.add((await getJson<{ pid: number }>(sup.url('web'))).pid);
    expect(seen).toEqual(pids);
  });

  it('keeps /bin/sh for shell syntax (here a variable assignment and $VAR)', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: `GREETING=hi node ${fixture('echo-server.js')} $HOME`, port: 0 },
      }),
    });
    const reply = await getJson<{ pid: number }>(sup.url('web'));
    // The shell is the process msup started; the app is its child.
    expect(reply.pid).not.toBe(sup.instances('web')[0]!.pid);
  });
});
