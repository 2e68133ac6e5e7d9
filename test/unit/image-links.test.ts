// Which links of a service folder will not resolve inside its minimal image: pure, on listed entries.
import { describe, expect, it } from 'vitest';
import { danglingLinks } from '../../src/runtime/container/image-links.js';
import type { TarEntry } from '../../src/runtime/container/tar.js';

const dir = (p: string): TarEntry => ({ type: 'dir', path: p, mode: 0o755, mtime: 0 });
const file = (p: string): TarEntry => ({ type: 'file', path: p, mode: 0o644, mtime: 0, size: 0, source: p });
const link = (p: string, target: string): TarEntry => ({ type: 'symlink', path: p, target, mtime: 0 });

// The image: node and a library outside the folder, the folder /srv/app with its files.
const base: TarEntry[] = [
  dir('/usr'),
  dir('/usr/local'),
  dir('/usr/local/bin'),
  file('/usr/local/bin/node'),
  dir('/srv'),
  dir('/srv/app'),
  file('/srv/app/main.js'),
  dir('/srv/app/lib'),
  file('/srv/app/lib/a.js'),
];

describe('danglingLinks', () => {
  it('names the links of the folder whose target the image does not hold', () => {
    const entries = [
      ...base,
      link('/srv/app/node_modules', '/work/other-checkout/node_modules'), // another checkout
      link('/srv/app/up', '../../etc/passwd'), // relative, out of the folder
      link('/srv/app/left-out', 'cache/data.bin'), // inside, but not in the image (.containerignore)
      link('/srv/app/index.js', 'main.js'), // fine: relative, inside
      link('/srv/app/node', '/usr/local/bin/node'), // fine: absolute, outside the folder but in the image
      link('/srv/app/libdir', 'lib'), // fine: a folder
      link('/srv/app/via', 'libdir/a.js'), // fine: through another link of the image
      link('/usr/local/bin/nodejs', '/nowhere'), // not under the folder: not the user's to fix
    ];
    expect(danglingLinks(entries, '/srv/app')).toEqual([
      { path: '/srv/app/node_modules', target: '/work/other-checkout/node_modules' },
      { path: '/srv/app/up', target: '../../etc/passwd' },
      { path: '/srv/app/left-out', target: 'cache/data.bin' },
    ]);
    expect(danglingLinks(base, '/srv/app')).toEqual([]);
  });

  it('follows chains of links, and takes a loop as dangling', () => {
    const chain = [
      ...base,
      link('/srv/app/one', 'two'),
      link('/srv/app/two', 'lib/../main.js'),
      link('/srv/app/loop-a', 'loop-b'),
      link('/srv/app/loop-b', 'loop-a'),
      link('/srv/app/through', '/srv/app/libdir/a.js'),
      link('/srv/app/libdir', '/srv/app/lib'),
      link('/srv/app/broken-chain', 'one/x'), // one leads to a file: nothing below it
    ];
    expect(danglingLinks(chain, '/srv/app').map((l) => l.path)).toEqual([
      '/srv/app/loop-a',
      '/srv/app/loop-b',
      '/srv/app/broken-chain',
    ]);
  });
});
