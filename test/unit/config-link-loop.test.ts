// A config file that is a symbolic link into a loop of links (a -> b -> a): refused in words that say so.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findConfigFile } from '../../src/config/find.js';
import { isMsupError } from '../../src/errors.js';
import { followLinks } from '../../src/links.js';

let root: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'msup-loop-')));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** What findConfigFile threw. */
function refusal(explicit?: string): Error {
  try {
    findConfigFile(root, explicit);
  } catch (error) {
    expect(isMsupError(error, 'MSUP_CONFIG_NOT_FOUND')).toBe(true);
    return error as Error;
  }
  throw new Error('findConfigFile found a file');
}

describe('a config file that is a link into a loop', () => {
  it('is named as a loop, with its links, whether --config names it or msup looks for it', () => {
    mkdirSync(path.join(root, '.msup'));
    symlinkSync('b.json', path.join(root, '.msup/a.json'));
    symlinkSync('a.json', path.join(root, '.msup/b.json'));
    symlinkSync('.msup/a.json', path.join(root, 'supervisor.config.json'));
    const config = path.join(root, 'supervisor.config.json');
    const message = `config file not found: ${config} is a symbolic link into a loop of links: supervisor.config.json -> .msup/a.json -> .msup/b.json -> .msup/a.json`;
    expect(refusal('supervisor.config.json').message).toBe(message);
    expect(refusal().message).toBe(message);
  });

  it('is passed over when msup looks for the config and a later name is a file', () => {
    // a loop left under an earlier name: supervisor.config.ts -> x.ts -> supervisor.config.ts
    symlinkSync('x.ts', path.join(root, 'supervisor.config.ts'));
    symlinkSync('supervisor.config.ts', path.join(root, 'x.ts'));
    writeFileSync(path.join(root, 'supervisor.config.json'), '{"services":{}}');
    expect(findConfigFile(root)).toBe(path.join(root, 'supervisor.config.json'));
    // the loop is still named when no name is a file, and for --config
    rmSync(path.join(root, 'supervisor.config.json'));
    const config = path.join(root, 'supervisor.config.ts');
    const message = `config file not found: ${config} is a symbolic link into a loop of links: supervisor.config.ts -> x.ts -> supervisor.config.ts`;
    expect(refusal().message).toBe(message);
    expect(refusal('supervisor.config.ts').message).toBe(message);
  });

  it('is a loop when it comes back to itself, through a folder that is a link too', () => {
    mkdirSync(path.join(root, 'data/proj'), { recursive: true });
    symlinkSync(path.join(root, 'data/proj'), path.join(root, 'proj'));
    // proj/supervisor.config.ts -> x.ts -> supervisor.config.ts, the project reached through proj
    symlinkSync('x.ts', path.join(root, 'data/proj/supervisor.config.ts'));
    symlinkSync('supervisor.config.ts', path.join(root, 'data/proj/x.ts'));
    const chain = followLinks(path.join(root, 'proj/supervisor.config.ts'));
    expect(chain).toEqual({
      links: [path.join(root, 'proj/supervisor.config.ts'), path.join(root, 'data/proj/x.ts')],
      end: path.join(root, 'data/proj/supervisor.config.ts'),
      loop: true,
    });
  });

  it('is a loop when a folder on the way to it is a link into a loop', () => {
    // d/loop -> loop (itself): the system gives up on d/loop/x.json (ELOOP), which is no "not a link"
    mkdirSync(path.join(root, 'd'));
    symlinkSync('loop', path.join(root, 'd/loop'));
    symlinkSync('d/loop/x.json', path.join(root, 'supervisor.config.json'));
    const config = path.join(root, 'supervisor.config.json');
    expect(followLinks(config)).toEqual({
      links: [config],
      end: path.join(root, 'd/loop/x.json'),
      loop: true,
      through: path.join(root, 'd/loop'),
    });
    const message = `config file not found: ${config} is a symbolic link into a loop of links: supervisor.config.json -> d/loop/x.json, in d/loop, a folder that is a link into a loop`;
    expect(refusal('supervisor.config.json').message).toBe(message);
    expect(refusal().message).toBe(message);
    // named as it is, through the folder: no link itself
    const inside = path.join(root, 'd/loop/x.json');
    expect(refusal('d/loop/x.json').message).toBe(
      `config file not found: ${inside} is in a folder that is a link into a loop of links: x.json, in ${path.join(root, 'd/loop')}, a folder that is a link into a loop`,
    );
  });

  it('leaves a link that leads to no file as it was: not found, no loop', () => {
    symlinkSync('releases/v2/config.json', path.join(root, 'supervisor.config.json'));
    const config = path.join(root, 'supervisor.config.json');
    expect(refusal('supervisor.config.json').message).toBe(`config file not found: ${config}`);
    expect(refusal().message).toMatch(/^no config file in /);
    expect(followLinks(config)).toEqual({
      links: [config],
      end: path.join(root, 'releases/v2/config.json'),
      loop: false,
    });
  });
});
