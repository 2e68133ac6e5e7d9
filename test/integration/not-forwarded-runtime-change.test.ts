// Whether the front believes a 503 with x-msup-not-forwarded ("the app never got this request") is a
// property of the instance that answered, not of the service's current config: a reload that moves a
// service to or from the sidecar runtime replaces its instances one at a time, and a replacement that
// fails leaves the old instances serving under the old runtime.
import { describe, expect, it } from 'vitest';
import { watchExecutions } from '../helpers/executions.js';
import { request } from '../helpers/http.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('x-msup-not-forwarded across a reload that changes the runtime', () => {
  it("passes on a process instance's own 503 after a reload to the sidecar runtime failed to roll out", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const write = (api: Record<string, unknown>) =>
      p.writeConfig({ api: { instances: 2, port: 0, maxFails: 0, health: { http: '/health' }, ...api } });
    write({ command: node('executes-then-503.js') });
    const sup = p.create({ configFile: 'supervisor.config.json', watch: false });
    const { executed, settled } = watchExecutions(sup, 'api', 2);
    await sup.start();
    // The new config runs api with sidecars, and its app does not start: the rollout fails on api#0 and
    // both process instances keep serving.
    write({ runtime: 'sidecar', command: node('crash-on-start.js') });
    const result = await sup.reload();
    expect(result.restarted).toEqual(['api']);
    expect(sup.instances('api').map((i) => [i.runtime, i.ready])).toEqual([
      ['process', true],
      ['process', true],
    ]);

    const reply = await request(`${sup.url('api')}/order`, { method: 'POST', body: 'one order' });
    expect(await settled()).toBe(true);
    // The POST an app executed is not sent to the other instance; the app's own answer is passed on.
    expect(executed).toEqual(['executed /order']);
    expect([reply.status, reply.body]).toEqual([503, 'the app is busy\n']);
  });
});
