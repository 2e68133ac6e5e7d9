// The programmatic API as a script would use it: `await using`, events, and stop() twice.
import { describe, expect, it } from 'vitest';
import { type InstanceInfo, type LogRecord, start } from '../../src/index.js';
import { getJson } from '../helpers/http.js';
import { taggedProcesses } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('programmatic API', () => {
  it('stops everything when an `await using` block ends', async () => {
    const p = project();
    const seen: InstanceInfo[] = [];
    {
      await using sup = await start({
        cwd: p.root,
        config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
      });
      expect((await getJson<{ service: string }>(sup.url('web'))).service).toBe('web');
      expect(sup.instances('web').map((i) => i.ready)).toEqual([true, true]);
      sup.on('instance', (i) => seen.push(i));
    }
    expect(taggedProcesses(p.tag)).toEqual([]);
    expect(
      seen
        .filter((i) => i.state === 'stopped')
        .map((i) => i.index)
        .sort(),
    ).toEqual([0, 1]);
  });

  it('stop() can be called twice, and rejects nothing', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ w: { command: node('worker.js') } }) });
    await Promise.all([sup.stop(), sup.stop()]);
    await sup.stop();
    await sup.whenStopped();
    expect(taggedProcesses(p.tag)).toEqual([]);
  });
});

describe('settings a runtime does not apply', () => {
  it('are kept, and named in a warning (memory and cpus on processes)', async () => {
    const p = project();
    const sup = p.create({
      config: p.config({ w: { command: node('worker.js'), memory: '256m', cpus: 0.5 } }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    expect(records.filter((r) => r.level === 'warn').map((r) => r.msg)).toEqual([
      'services.w.memory does not apply to the process runtime',
      'services.w.cpus does not apply to the process runtime',
    ]);
    expect(sup.config.services[0]).toMatchObject({ memoryMb: 256, cpus: 0.5 });
  });
});
