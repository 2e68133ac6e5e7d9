// The container runtime passes the conformance suite, on a real engine (podman here; CI installs it).
import { execFileSync } from 'node:child_process';
import { containerRuntime } from '../../src/runtime/container/runtime.js';
import { projectId } from '../../src/runtimes.js';
import { podmanMissing, removeProjectImages } from '../helpers/engines.js';
import { describeRuntime } from './suite.js';

describeRuntime({
  name: 'container',
  plugin: () => containerRuntime,
  unavailable: podmanMissing,
  measuresUsage: true,
  startTimeoutMs: 60_000,
  cleanup: removeProjectImages,
  // This suite's containers only: other test files run containers of their own meanwhile (the demo's web).
  async leftovers(tag, root) {
    const out = execFileSync('podman', ['ps', '--all', '--format', '{{.Names}} {{.Labels}}'], {
      encoding: 'utf8',
    });
    const mine = `msup-${projectId(root)}-`;
    return out.split('\n').filter((line) => line.includes(tag) || line.startsWith(mine));
  },
});
