// The function runtime passes the conformance suite with an HTTP service as the function (fixtures/behave.js
// in each execution environment, started by the first request).
import { functionRuntime } from '../../src/runtime/function/runtime.js';
import { describeRuntime } from './suite.js';

describeRuntime({
  name: 'function',
  plugin: () => functionRuntime,
  measuresUsage: true,
  gateway:
    "a function's instance is its gateway, which outlives any one environment: an environment that exits is replaced at the next request",
});
