// The process runtime passes the conformance suite.
import { processRuntime } from '../../src/runtime/process.js';
import { describeRuntime } from './suite.js';

describeRuntime({ name: 'process', plugin: () => processRuntime, measuresUsage: true });
