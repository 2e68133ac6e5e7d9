// What a crashed msup leaves half written, in files and folders named after it (state.json.<pid>.tmp, an
// image build's msup-import-<pid>-… in the temporary folder, ...), is removed by the next run that takes the
// project; never what a live process is writing.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Runtimes } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';

/** The pid of a process that has ended. */
async function gonePid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openProject(root: string, lines: string[] = []): Promise<Runtimes> {
  const runtimes = await Runtimes.open(
    root,
    (_level, msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`),
    new EndpointDirectory(),
  );
  cleanups.push(() => runtimes.close());
  return runtimes;
}

describe("a crashed run's leftovers", () => {
  it('in .msup go when the next run takes the project; a live process’s stay', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-leftovers-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const state = path.join(root, '.msup');
    mkdirSync(path.join(state, 'images'), { recursive: true });
    mkdirSync(path.join(state, 'mesh'), { recursive: true });
    const dead = await gonePid();
    // The parent of this test's process is alive: what it writes is its own.
    const live = process.ppid;
    const left = [
      `state.json.${dead}.tmp`,
      `state.json.${dead}.new`,
      `images/hashes-0123456789ab.json.${dead}.tmp`,
      `mesh/ca.key.${dead}.0123456789ab.tmp`,
    ];
    const kept = [
      `state.json.${live}.tmp`,
      `images/hashes-0123456789ab.json.${live}.tmp`,
      `images/hashes-0123456789ab.json`,
      `mesh/ca.key.${live}.0123456789ab.tmp`,
      // Not a name msup gives a file of its own.
      `state.json.${dead}.bak`,
    ];
    for (const file of [...left, ...kept]) writeFileSync(path.join(state, file), 'x');
    await openProject(root);
    // Before, each stayed for good (a copy of the mesh CA's private key among them).
    for (const file of left) expect(existsSync(path.join(state, file)), file).toBe(false);
    for (const file of kept) expect(existsSync(path.join(state, file)), file).toBe(true);
  });

  it("in the temporary folder (an image build's) go when the next run reaps for containers", {
    timeout: 60_000,
  }, async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-leftovers-'));
    const dead = path.join(os.tmpdir(), `msup-import-${await gonePid()}-test${process.pid}`);
    const live = path.join(os.tmpdir(), `msup-import-${process.ppid}-test${process.pid}`);
    // Of a pid not seen here, but made a minute ago: maybe an msup's in another pid namespace, at work.
    const recent = path.join(os.tmpdir(), `msup-import-${await gonePid()}-recent${process.pid}`);
    cleanups.push(() => {
      for (const dir of [root, dead, live, recent]) rmSync(dir, { recursive: true, force: true });
    });
    for (const dir of [dead, live, recent]) {
      mkdirSync(dir);
      // What the engine keeps of an import it did not finish: as large as the image.
      writeFileSync(path.join(dir, 'storage-import'), Buffer.alloc(1024));
    }
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);
    for (const dir of [dead, live]) utimesSync(dir, hoursAgo(2), hoursAgo(2));
    utimesSync(recent, hoursAgo(1 / 60), hoursAgo(1 / 60));
    const lines: string[] = [];
    const runtimes = await openProject(root, lines);
    await runtimes.reap(['container']);
    // Before, it stayed for good.
    expect(existsSync(dead)).toBe(false);
    expect(readdirSync(live)).toEqual(['storage-import']);
    expect(readdirSync(recent)).toEqual(['storage-import']);
    expect(lines.join('\n')).toContain(
      `removed the temporary folder of an image build a crashed run left {"path":${JSON.stringify(dead)}}`,
    );
  });
});
