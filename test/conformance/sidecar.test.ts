// The sidecar runtime (the app as a process, msup's sidecar beside it) passes the conformance suite.
import { sidecarRuntime } from '../../src/runtime/sidecar/runtime.js';
import { describeRuntime } from './suite.js';

describeRuntime({ name: 'sidecar', plugin: () => sidecarRuntime(), measuresUsage: true });
