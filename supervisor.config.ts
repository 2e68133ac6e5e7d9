// The demo: two HTTP services with several instances behind their own front ports, and a worker.
import { defineConfig } from 'msup';

export default defineConfig({
  services: {
    web: {
      command: 'node fixtures/echo-server.js',
      instances: 3,
      port: 8080,
      env: { GREETING: 'hello from web' },
      health: { http: '/health', interval: '2s' },
      restart: 'always',
      stopTimeout: '5s',
    },
    api: {
      command: ['node', 'fixtures/echo-server.js'],
      instances: 2,
      port: 8081,
      env: { GREETING: 'hello from api' },
      health: { http: '/health' },
    },
    worker: {
      command: 'node fixtures/worker.js',
      env: { WORK_MS: 5000 },
      restart: 'on-failure',
    },
  },
});
