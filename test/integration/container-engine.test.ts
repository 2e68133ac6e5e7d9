// Engine detection for real: podman found here, a docker client without an engine refused, and no engine
// at all a coded error that says what was tried and what to install.
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isMsupError } from '../../src/errors.js';
import { detectEngine, engineCommand } from '../../src/runtime/container/engine.js';
import { needsPodman } from '../helpers/engines.js';

const savedPath = process.env.PATH;
const folders: string[] = [];
afterEach(() => {
  process.env.PATH = savedPath;
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-engine-'));
  folders.push(dir);
  return dir;
}

/** The docker client of this machine, or null. */
function dockerClient(): string | null {
  for (const dir of (savedPath ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'docker');
    try {
      if (statSync(file).isFile()) return file;
    } catch {}
  }
  return null;
}

async function detectionError(preferred: 'podman' | 'docker' | null) {
  try {
    await detectEngine(preferred);
  } catch (error) {
    return error;
  }
  throw new Error('expected detection to fail');
}

describe('detectEngine', () => {
  it('finds podman here (no daemon needed), with its absolute path and version', async (ctx) => {
    const { engine, skip } = await needsPodman();
    if (!engine) return ctx.skip(skip);
    const found = await detectEngine(null);
    expect(found.name).toBe('podman');
    expect(path.isAbsolute(found.bin)).toBe(true);
    expect(found.version).toMatch(/^\d+\.\d+/);
    // Cached per process: the same answer, without asking again.
    expect(await detectEngine(null)).toBe(found);
    const version = await engineCommand(found, ['version', '--format', '{{.Client.Version}}']);
    expect(version.stdout.trim()).toBe(found.version);
  });

  it('with no engine on PATH: MSUP_NO_CONTAINER_ENGINE names what was tried and what to install', async () => {
    process.env.PATH = folder();
    const error = await detectionError(null);
    expect(isMsupError(error, 'MSUP_NO_CONTAINER_ENGINE')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^no working container engine: tried podman and docker\.\n/);
    expect(message).toContain('podman: not found on PATH');
    expect(message).toContain('docker: not found on PATH');
    expect(message).toContain('apt-get install podman runc');
    expect(message).toContain('runtime="runc"');
  });

  it('a docker client whose engine does not run is not a working engine, and says why', async () => {
    const dir = folder();
    const client = dockerClient();
    if (client) symlinkSync(client, path.join(dir, 'docker'));
    else {
      // No docker client on this machine: a stand-in that answers as a client without an engine does.
      writeFileSync(
        path.join(dir, 'docker'),
        '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n',
        { mode: 0o755 },
      );
    }
    process.env.PATH = dir;
    const error = await detectionError(null);
    expect(isMsupError(error, 'MSUP_NO_CONTAINER_ENGINE')).toBe(true);
    expect((error as Error).message).toMatch(/docker: "docker info" failed: .*(Cannot connect|daemon)/);
  });

  it('a chosen engine is the only one tried', async () => {
    process.env.PATH = folder();
    const error = await detectionError('docker');
    expect(isMsupError(error, 'MSUP_NO_CONTAINER_ENGINE')).toBe(true);
    expect((error as Error).message).toMatch(
      /^no working container engine: tried only "docker" \(container\.engine\)\.\n/,
    );
    expect((error as Error).message).not.toContain('podman:');
  });

  it('a failure is not cached: the engine is found once PATH has it again', async (ctx) => {
    const { engine, skip } = await needsPodman();
    if (!engine) return ctx.skip(skip);
    process.env.PATH = folder();
    await detectionError('podman');
    process.env.PATH = savedPath;
    expect((await detectEngine('podman')).name).toBe('podman');
  });
});

describe('engineCommand', () => {
  it('gives the exit code and output, passes stdin, and kills on timeout', { timeout: 15_000 }, async () => {
    const sh = { bin: '/bin/sh' };
    expect(await engineCommand(sh, ['-c', 'cat; echo err >&2; exit 3'], { input: 'hello' })).toEqual({
      code: 3,
      stdout: 'hello',
      stderr: 'err\n',
    });
    const lines: string[] = [];
    await engineCommand(sh, ['-c', 'echo one; echo two >&2'], { onLine: (l) => lines.push(l) });
    expect(lines.sort()).toEqual(['one', 'two']);
    const slow = await engineCommand(sh, ['-c', 'exec sleep 30'], { timeoutMs: 100 });
    expect(slow.code).toBeNull();
    // Killed while something it started still holds its output open: done when it exits, not 30 s later.
    const held = await engineCommand(sh, ['-c', 'sleep 30 & echo $!; exec sleep 31'], { timeoutMs: 300 });
    const holder = Number(held.stdout.trim());
    expect(holder).toBeGreaterThan(0);
    process.kill(holder, 'SIGKILL');
    expect(held.code).toBeNull();
    const missing = await engineCommand({ bin: '/nonexistent/engine' }, ['info']);
    expect(missing.code).toBeNull();
    expect(missing.stderr).toContain('ENOENT');
  });

  it("keeps each stream's last keepChars characters, a character whose bytes two chunks cut decoded whole", async () => {
    const sh = { bin: '/bin/sh' };
    // 400,000 euro signs (3 bytes each: 1.2 MB, read in chunks of a power of two, which cut many of them in
    // two) and a line after them, on stdout and on stderr.
    const euros = "yes € | head -n 400000 | tr -d '\\n'";
    const result = await engineCommand(
      sh,
      ['-c', `${euros}; echo END; { ${euros}; echo ERR; } >&2; exit 3`],
      {
        keepChars: 100_000,
      },
    );
    expect(result.code).toBe(3);
    // Its end only, bounded, with no U+FFFD where a chunk ended inside a character.
    expect(result.stdout.length).toBe(100_000);
    expect(result.stdout).toBe(`${'€'.repeat(99_996)}END\n`);
    expect(result.stderr).toBe(`${'€'.repeat(99_996)}ERR\n`);
  });

  it('says which signal ended a command someone else killed, and none for its own kill', async () => {
    const sh = { bin: '/bin/sh' };
    expect(await engineCommand(sh, ['-c', 'echo bye >&2; kill -KILL $$'])).toEqual({
      code: null,
      signal: 'SIGKILL',
      stdout: '',
      stderr: 'bye\n',
    });
    expect(await engineCommand(sh, ['-c', 'exec sleep 30'], { timeoutMs: 100 })).toEqual({
      code: null,
      timedOut: true,
      stdout: '',
      stderr: '',
    });
  });
});
