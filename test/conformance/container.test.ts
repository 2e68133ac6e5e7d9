// The container runtime passes the conformance suite, on a real engine (podman here; CI installs it).
import { execFileSync } from 'node:child_process';
import { containerRuntime } from '../../src/runtime/container/runtime.js';
import { podmanMissing, removeProjectImages } from '../helpers/engines.js';
import { describeRuntime } from './suite.js';

describeRuntime({
  name: 'container',
  plugin: () => containerRuntime,
  unavailable: podmanMissing,
  measuresUsage: true,
  startTimeoutMs: 60_000,
  cleanup: removeProjectImages,
  async leftovers(tag) {
    const out = execFileSync('podman', ['ps', '--all', '--format', '{{.Names}} {{.Labels}}'], {
      encoding: 'utf8',
    });
    return out.split('\n').filter((line) => line.includes(tag) || /msup-[0-9a-f]{10}-web-/.test(line));
  },
});
