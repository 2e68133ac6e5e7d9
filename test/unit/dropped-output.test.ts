// What `msup start` says of output dropped for a slow reader: whether .msup/logs has those lines, each line
// the log files did not get told in one report (the one of the lines logged when it was). Real log files.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { droppedOutput } from '../../src/cli/dropped-output.js';
import { LogFiles } from '../../src/log/files.js';
import { createLogger } from '../../src/log/logger.js';
import { waitFor } from '../helpers/processes.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const ALL = /\(\.msup\/logs has them all\)/;
const NOT_ALL = /\(\.msup\/logs has them, but for lines it could not write meanwhile: see/;

describe('the reports of output dropped for a slow reader', () => {
  it('tell a line logged after a report, and lost while it waits, in the next report only', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'msup-dropped-'));
    const files = new LogFiles(dir, { batchMs: 0 });
    // A folder where lost.log should be: that log cannot be opened (EISDIR), its lines are lost as they come.
    mkdirSync(path.join(dir, 'lost.log'));
    const said: string[] = [];
    const logger = createLogger({ json: false, color: false, write: (line) => said.push(line) });
    const reports = droppedOutput(
      { unwrittenLines: () => files.notWritten, logFilesWritten: () => files.settled() },
      logger,
    );
    const line = (service: string, text: string) =>
      files.write({ service, index: 0, stream: 'stdout', line: text });
    line('kept', 'the first report waits for this one to be written');
    reports.onDropped(10);
    line('lost', 'logged after the first report');
    reports.onDropped(20);
    expect(await waitFor(() => said.length === 2)).toBe(true);
    // Before, both said the log files missed lines: the one line lost was in each report's count.
    expect(said[0]).toMatch(/ 10 line\(s\) of output dropped/);
    expect(said[0]).toMatch(ALL);
    expect(said[1]).toMatch(/ 20 line\(s\) of output dropped/);
    expect(said[1]).toMatch(NOT_ALL);
    await reports.stopped();
    await files.close();
  });

  it('tell a line logged before a report, and lost in its write while two wait, in that report only', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'msup-dropped-'));
    // Under a 4 KiB file size limit (RLIMIT_FSIZE, as prlimit sets it): the write of a longer line fails
    // (EFBIG, as a full disk fails one with ENOSPC) after both reports began to wait. The built modules.
    const dist = (file: string) => JSON.stringify(path.resolve(import.meta.dirname, '../../dist', file));
    const script = `
      import { LogFiles } from ${dist('log/files.js')};
      import { droppedOutput } from ${dist('cli/dropped-output.js')};
      import { createLogger } from ${dist('log/logger.js')};
      const files = new LogFiles(process.argv[1], { batchMs: 0 });
      const said = [];
      const logger = createLogger({ json: false, color: false, write: (line) => said.push(line) });
      const reports = droppedOutput(
        { unwrittenLines: () => files.notWritten, logFilesWritten: () => files.settled() },
        logger,
      );
      files.write({ service: 'web', index: 0, stream: 'stdout', line: 'x'.repeat(8000) });
      reports.onDropped(10);
      reports.onDropped(20);
      while (said.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      await reports.stopped();
      await files.close();
      process.stdout.write(JSON.stringify({ said, notWritten: files.notWritten }));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'prlimit',
        ['--fsize=4096:4096', process.execPath, '--input-type=module', '-e', script, dir],
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const { said, notWritten } = JSON.parse(out) as { said: string[]; notWritten: number };
    expect(notWritten).toBe(1);
    // Before, the second said so too: the line lost in the wait was in its count since the first's call.
    expect(said[0]).toMatch(NOT_ALL);
    expect(said[1]).toMatch(ALL);
  });
});
