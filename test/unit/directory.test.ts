// The endpoint directory runtimes read (a sidecar's peers), and fitting a config to its runtimes.
import { describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { RuntimePlugin } from '../../src/contract.js';
import { adjustConfig } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';

describe('the endpoint directory', () => {
  it('lists a service’s instances in rotation and says when they change', () => {
    const directory = new EndpointDirectory();
    const changes: string[] = [];
    const off = directory.onChange((service) => changes.push(service));
    directory.add('api', 'api#0:p1', { host: '127.0.0.1', port: 1001 });
    directory.add('api', 'api#1:p2', { host: '127.0.0.1', port: 1002 });
    directory.add('web', 'web#0:p3', { host: '127.0.0.1', port: 2001 });
    directory.remove('api', 'api#0:p1');
    directory.remove('api', 'api#0:p1');
    expect(directory.endpoints('api')).toEqual([{ host: '127.0.0.1', port: 1002 }]);
    expect(directory.endpoints('nope')).toEqual([]);
    expect(changes).toEqual(['api', 'api', 'web', 'api']);
    off();
    directory.remove('api', 'api#1:p2');
    expect(changes).toHaveLength(4);
  });
});

describe('adjusting a config to its runtimes', () => {
  it('applies each runtime’s adjust to its own services only', () => {
    const config = prepareConfig(
      {
        services: {
          a: { command: 'x', instances: 3 },
          b: { command: 'x', instances: 3, runtime: 'container' },
        },
      },
      '/p',
      null,
    );
    const one: RuntimePlugin = {
      name: 'container',
      open: async () => {
        throw new Error('not used');
      },
      reap: async () => [],
      adjust: (service) => ({ ...service, instances: 1 }),
    };
    const adjusted = adjustConfig(config, { container: one });
    expect(adjusted.services.map((s) => [s.name, s.instances])).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
    expect(Object.isFrozen(adjusted.services[1])).toBe(true);
    expect(adjustConfig(config, {})).toBe(config);
  });
});
