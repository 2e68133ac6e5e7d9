// Supervisor.logFilesWritten() and unwrittenLines(): what `msup start` goes by to say whether .msup/logs
// has every line of output it dropped for a slow terminal.
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OutputLine, ServiceConfig } from '../../src/index.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

const say = (word: string): ServiceConfig => ({
  command: [process.execPath, '-e', `console.log(${JSON.stringify(word)}); setInterval(() => {}, 1000)`],
});

describe('Supervisor.logFilesWritten and unwrittenLines', () => {
  it('resolve once each line seen is in its file, or counted when its file cannot take it', async () => {
    const p = project();
    const logs = path.join(realpathSync(p.root), '.msup', 'logs');
    // A folder where lost.log should be: that log cannot be opened (EISDIR), its lines are not written.
    mkdirSync(path.join(logs, 'lost.log'), { recursive: true });
    const sup = p.create({ config: p.config({ kept: say('in the file'), lost: say('nowhere') }) });
    const seen: OutputLine[] = [];
    sup.on('output', (line: OutputLine) => seen.push(line));
    await sup.start();
    expect(await waitFor(() => seen.length === 2)).toBe(true);
    // How many of the lines logged before the call are not in their files: lost.log's.
    expect(await sup.logFilesWritten()).toBe(1);
    const kept = readFileSync(path.join(logs, 'kept.log'), 'utf8').split('\n').filter(Boolean);
    expect(kept.map((l) => JSON.parse(l).line)).toEqual(['in the file']);
    expect(sup.unwrittenLines()).toBe(1);
    await sup.stop();
    // After the stop: at once, and the count is final.
    expect(await sup.logFilesWritten()).toBe(1);
    expect(sup.unwrittenLines()).toBe(1);
  });
});
