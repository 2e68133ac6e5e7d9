// Which containers and images are msup's own: pure, on what the engine lists. A container or image the user
// made from msup's image inherits its msup.* labels, never msup's naming.
import { describe, expect, it } from 'vitest';
import { isOwnRef } from '../../src/runtime/container/image-build.js';
import { ownContainer } from '../../src/runtime/container/runtime.js';

const hash = 'fb17542772f0a1b2c3d4e5f6';

describe('ownContainer', () => {
  it("takes msup's naming with msup.index, in podman's and docker's label formats", () => {
    const podman = 'msup-abc-web-1-0f3a9c map[msup.index:1 msup.project:abc msup.service:web]';
    const docker = 'msup-abc-web-1-0f3a9c msup.index=1,msup.project=abc,msup.service=web';
    for (const line of [podman, docker])
      expect(ownContainer('abc', line)).toEqual({ name: 'msup-abc-web-1-0f3a9c', service: 'web', index: 1 });
  });

  it("leaves the user's containers, another project's, and names that do not match the labels", () => {
    const inherited = 'map[msup.project:abc msup.service:web]';
    expect(ownContainer('abc', `user-debug ${inherited}`)).toBeNull();
    expect(ownContainer('abc', `msup-abc-web-0-0f3a9c ${inherited}`)).toBeNull(); // no msup.index
    const labels = 'map[msup.index:0 msup.project:abc msup.service:web]';
    expect(ownContainer('abc', `user-debug ${labels}`)).toBeNull();
    expect(ownContainer('abc', `msup-abc-api-0-0f3a9c ${labels}`)).toBeNull();
    expect(ownContainer('abc', `msup-abc-web-1-0f3a9c ${labels}`)).toBeNull();
    expect(ownContainer('abc', `msup-abc-web-0-debug1 ${labels}`)).toBeNull();
    expect(ownContainer('xyz', `msup-abc-web-0-0f3a9c ${labels}`)).toBeNull();
  });
});

describe('isOwnRef', () => {
  it("is msup's repository tagged with the image's own hash", () => {
    expect(isOwnRef('localhost/msup-web:fb17542772f0', hash)).toBe(true);
    expect(isOwnRef('localhost/msup-web:fb17542772f0', hash, 'localhost/msup-web')).toBe(true);
    expect(isOwnRef('localhost/msup-web:fb17542772f0', hash, 'localhost/msup-api')).toBe(false);
    expect(isOwnRef('localhost/user-snap:1', hash)).toBe(false);
    expect(isOwnRef('localhost/user-snap:fb17542772f0', hash)).toBe(false);
    expect(isOwnRef('localhost/msup-web:latest', hash)).toBe(false);
    expect(isOwnRef('localhost/msup-web:0123456789ab', hash)).toBe(false);
  });
});
