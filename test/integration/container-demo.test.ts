// The demo config, re-targeted with `runtime: 'container'` (as `msup start --runtime container` does),
// answers as it does on processes: the same routes, services and instances, through the same fronts.
import { afterAll, describe, expect, it } from 'vitest';
import type { Supervisor } from '../../src/index.js';
import { podmanMissing, projectContainers, removeProjectImages } from '../helpers/engines.js';
import { getJson } from '../helpers/http.js';
import { REPO, useProject } from '../helpers/project.js';

const project = useProject();
const missing = podmanMissing();

/** The repository's demo with every port chosen by the kernel and each service run from the repository. */
const demoConfig = (tag: string) => `
import demo from ${JSON.stringify(`${REPO}supervisor.config.ts`)};
export default {
  ...demo,
  proxy: { ...demo.proxy, port: 0 },
  services: Object.fromEntries(
    Object.entries(demo.services).map(([name, s]) => [
      name,
      { ...s, cwd: ${JSON.stringify(REPO)}, ...(s.port === undefined ? {} : { port: 0 }), env: { ...s.env, MSUP_TEST_TAG: ${JSON.stringify(tag)} } },
    ]),
  ),
};
`;

/** What the demo answers: who served each of a few requests through the shared front. */
async function answers(sup: Supervisor) {
  const front = sup.proxyUrl() as string;
  const seen = { web: new Set<number>(), api: new Set<number>() };
  // web is round-robin (6 requests reach all 3); api is least-request, which breaks ties at random
  // between idle instances, so it gets requests until both answered (a miss after 60 is 2^-59).
  for (let i = 0; i < 60 && (i < 6 || seen.api.size < 2); i++) {
    const web = await getJson<{ service: string; instance: number; greeting: string }>(`${front}/`);
    const api = await getJson<{ service: string; instance: number; path: string }>(`${front}/api/hello`);
    expect([web.service, web.greeting, api.service, api.path]).toEqual([
      'web',
      'hello from web',
      'api',
      '/hello',
    ]);
    seen.web.add(web.instance);
    seen.api.add(api.instance);
  }
  // The function: a handler, served as a function on processes and by msup's handler server in a container.
  const hello = await getJson<{ message: string; path: string }>(`${front}/hello`);
  expect([hello.message, hello.path]).toEqual(['hello from a function', '/hello']);
  return { web: [...seen.web].sort(), api: [...seen.api].sort() };
}

describe.skipIf(missing !== undefined)('the demo on containers', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) removeProjectImages(root);
  });

  it('answers as it does on processes', { timeout: 240_000 }, async () => {
    const p = project();
    roots.push(p.root);
    p.write('supervisor.config.ts', demoConfig(p.tag));
    const onProcesses = await p.start({ watch: false, control: false });
    const expected = await answers(onProcesses);
    await onProcesses.stop();
    expect(expected).toEqual({ web: [0, 1, 2], api: [0, 1] });

    const onContainers = await p.start({
      watch: false,
      control: false,
      runtime: 'container',
      timeout: '200s',
    });
    expect(await answers(onContainers)).toEqual(expected);
    const status = await onContainers.status();
    expect(status.services.flatMap((s) => s.instances.map((i) => i.runtime))).toEqual(
      Array(7).fill('container'),
    );
    expect(projectContainers(p.root)).toHaveLength(7);
    await onContainers.stop();
    expect(projectContainers(p.root)).toEqual([]);
  });
});
