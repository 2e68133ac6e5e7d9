// The demo: users → one shared front (like nginx) → many instances of two HTTP services, each also on
// its own front port, a function started on demand, and a background worker. `npx msup start`, then try
// the URLs it prints; `/call/api/hello` on web calls api (at MSUP_API_URL). `npx msup start --runtime
// function` runs the HTTP services as functions too; `--runtime sidecar` runs them as a service mesh: a
// sidecar per instance, calls between services over mutual TLS.
import { defineConfig } from 'msupervisor';

export default defineConfig({
  proxy: {
    port: 8000,
    routes: [
      { path: '/api', service: 'api', stripPrefix: true },
      { path: '/hello', service: 'hello' },
      { path: '/', service: 'web' },
    ],
  },
  services: {
    web: {
      command: 'node fixtures/echo-server.js',
      instances: 3,
      port: 8080,
      env: { GREETING: 'hello from web' },
      health: { http: '/health', interval: '2s' }, // readiness and liveness
      restart: 'always',
      stopTimeout: '5s',
    },
    api: {
      command: ['node', 'fixtures/echo-server.js'],
      instances: 2,
      port: 8081,
      env: { GREETING: 'hello from api' },
      health: { http: '/health' },
      strategy: 'least-request',
      dependsOn: { web: 'ready' },
    },
    // A handler with the AWS Lambda signature: environments start on the first request and end when idle.
    hello: {
      handler: 'fixtures/fns/hello.handler',
      runtime: { function: { idleTimeout: '30s' } },
    },
    worker: {
      command: 'node fixtures/worker.js',
      env: { WORK_MS: 5000 },
      restart: 'on-failure',
    },
  },
});
