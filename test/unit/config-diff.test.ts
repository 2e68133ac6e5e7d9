// What a config reload restarts, applies in place, or leaves alone (src/config/diff.ts).
import { describe, expect, it } from 'vitest';
import { diffConfigs } from '../../src/config/diff.js';
import { prepareConfig } from '../../src/config/load.js';

const base = {
  web: { command: 'node web.js', instances: 2, port: 8080 },
  api: { command: 'node api.js' },
  db: { command: 'node db.js', port: 5433, mode: 'tcp' },
};
type Services = Record<string, Record<string, unknown>>;
const config = (services: Services, proxy?: Record<string, unknown>) =>
  prepareConfig({ services, ...(proxy ? { proxy } : {}) }, '/project', null);
const names = (list: { name: string }[]) => list.map((s) => s.name);

describe('config diff', () => {
  it('applies balancing keys in place, and replaces a service whose mode or port changed', () => {
    const before = config(base);
    const after = config({
      ...base,
      web: { ...base.web, weights: [3, 1], strategy: 'least-request', holdTimeout: '1s' },
      db: { ...base.db, mode: 'http' },
    });
    const diff = diffConfigs(before, after);
    expect(diff.balancing).toEqual(['web']);
    expect(names(diff.changed)).toEqual([]);
    expect(diff.removed).toEqual(['db']);
    expect(names(diff.added)).toEqual(['db']);
    expect(diff.shared).toBe(false);
    const moved = diffConfigs(before, config({ ...base, web: { ...base.web, port: 9090 } }));
    expect([moved.removed, names(moved.added)]).toEqual([['web'], ['web']]);
  });

  it('replaces a portless service that gains or loses a route (its balancer), and flags the front', () => {
    const noFront = config(base);
    const routed = config(base, { port: 8000, routes: [{ path: '/api', service: 'api' }] });
    const gained = diffConfigs(noFront, routed);
    expect([gained.removed, names(gained.added), gained.shared]).toEqual([['api'], ['api'], true]);
    const lost = diffConfigs(routed, noFront);
    expect([lost.removed, names(lost.added), lost.shared]).toEqual([['api'], ['api'], true]);
    // Routes changed, but every service keeps (or keeps lacking) its balancer: nothing restarts.
    const web = config(base, {
      port: 8000,
      routes: [
        { path: '/api', service: 'api' },
        { path: '/', service: 'web' },
      ],
    });
    const shifted = diffConfigs(routed, web);
    expect([shifted.removed, names(shifted.added), names(shifted.changed), shifted.shared]).toEqual([
      [],
      [],
      [],
      true,
    ]);
  });

  it('keeps count-only and process changes apart, and sees no change in an equal config', () => {
    const before = config(base);
    const diff = diffConfigs(
      before,
      config({ ...base, web: { ...base.web, instances: 4 }, api: { ...base.api, env: { A: '1' } } }),
    );
    expect([names(diff.scaled), names(diff.changed), diff.balancing]).toEqual([['web'], ['api'], []]);
    expect(diffConfigs(before, config(base))).toEqual({
      added: [],
      removed: [],
      changed: [],
      scaled: [],
      balancing: [],
      shared: false,
    });
  });
});
