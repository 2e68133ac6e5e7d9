// docs/cli.md's synopsis of msup start and its --runtime paragraph name what the parser accepts: the
// synopsis lacked --admin/--no-admin (and, for --detach, --runtime and --wait-timeout), and --runtime
// named three of the four runtimes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPECS } from '../../src/cli/commands.js';
import { RUNTIME_NAMES } from '../../src/config/runtime-names.js';
import { REPO } from '../helpers/project.js';

const page = readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8');
const synopsis = (prefix: string) => page.split('\n').find((line) => line.startsWith(prefix)) ?? '';
const options = SPECS.start.options.filter((o) => o.name !== 'help');

/** The options of msup start, but `apart`, that `line` does not show (`[--name`, `| --name`, `[-c`). */
function missingFrom(line: string, apart: readonly string[]): string[] {
  return options
    .filter((o) => !apart.includes(o.name))
    .filter((o) => ![`[--${o.name}`, `| --${o.name}`, `[-${o.short}`].some((form) => line.includes(form)))
    .map((o) => o.name);
}

describe('docs/cli.md on msup start', () => {
  it('the msup start synopsis names every option but --detach (its own line)', () => {
    expect(missingFrom(synopsis('msup start ['), ['detach'])).toEqual([]);
  });

  it('the msup start --detach synopsis names every option a background msup takes', () => {
    // --background is what --detach runs its msup with; colours: the background msup writes to a file.
    expect(missingFrom(synopsis('msup start --detach'), ['detach', 'background', 'no-color'])).toEqual([]);
  });

  it('--runtime NAME lists every runtime', () => {
    const paragraph = page.split('\n\n').find((p) => p.startsWith('**`--runtime NAME`**')) ?? '';
    for (const name of RUNTIME_NAMES) expect([name, paragraph.includes(`\`${name}\``)]).toEqual([name, true]);
  });
});
