// The names a watched file is seen under: a link to a file not made yet is followed as the system does.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileNames } from '../../src/watch/watcher.js';

let root: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'msup-names-')));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('fileNames of a link to a file not made yet', () => {
  it('follows a target with .. from the link’s real folder, when the project folder is reached through a link', () => {
    // proj -> data/proj, and supervisor.config.json -> ../releases/v2/config.json (not made yet)
    mkdirSync(path.join(root, 'data', 'proj'), { recursive: true });
    mkdirSync(path.join(root, 'data', 'releases', 'v2'), { recursive: true });
    symlinkSync(path.join(root, 'data', 'proj'), path.join(root, 'proj'));
    const config = path.join(root, 'proj', 'supervisor.config.json');
    symlinkSync('../releases/v2/config.json', config);
    // The system reads `..` from data/proj (it watched root/releases/v2/config.json, where nothing comes).
    expect(fileNames(config)).toEqual([config, path.join(root, 'data', 'releases', 'v2', 'config.json')]);
  });

  it('follows a target with .. from the link’s folder when no folder on the way is a link', () => {
    mkdirSync(path.join(root, 'proj'));
    const config = path.join(root, 'proj', 'supervisor.config.json');
    symlinkSync('../releases/v2/config.json', config);
    expect(fileNames(config)).toEqual([config, path.join(root, 'releases', 'v2', 'config.json')]);
  });
});
