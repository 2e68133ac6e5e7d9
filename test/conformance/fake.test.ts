// The fake runtime of the test helpers passes the conformance suite, so tests built on it mean something.
import { createFakeRuntime } from '../helpers/fake-runtime.js';
import { describeRuntime } from './suite.js';

describeRuntime({ name: 'process', plugin: () => createFakeRuntime('process'), measuresUsage: false });
