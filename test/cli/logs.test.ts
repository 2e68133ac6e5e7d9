// `msup logs` against a running msup whose service writes fast: where the recent records end and the
// live ones begin, no line is missed and none is shown twice.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

/** Numbered lines, 50 every 10 ms (about 5000 a second): `tick <n>`. */
const TICK = `let n = 0;
setInterval(() => {
  let text = '';
  for (let i = 0; i < 50; i++) text += 'tick ' + n++ + '\\n';
  process.stdout.write(text);
}, 10);
process.on('SIGTERM', () => process.exit(0));`;

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('msup logs -f', () => {
  it('shows the recent records, then the live ones, with no line missed or twice between them', async () => {
    const p = project();
    p.writeConfig({ tick: { command: [process.execPath, '-e', TICK] } });
    const msup = runCli(p, ['start', '--json']);
    await msup.waitForOutput(/"msg":"all ready"/);
    // Several followers, each joining while lines pour in (each junction is a chance to lose some).
    for (let round = 0; round < 3; round++) {
      const follow = runCli(p, ['logs', 'tick', '-n', '20', '-f', '--json']);
      const count = () => follow.stdout().split('\n').length - 1;
      expect(await waitFor(() => count() >= 1500, 15_000)).toBe(true);
      follow.child.kill('SIGTERM');
      const { code, out } = await finish(follow);
      expect(code).toBe(0);
      const numbers = out
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind: string; line: string })
        .map((record) => {
          expect(record.kind).toBe('output');
          return Number(/^tick (\d+)$/.exec(record.line)?.[1]);
        });
      const gaps = numbers.flatMap((n, i) => (i > 0 && n !== (numbers[i - 1] as number) + 1 ? [i] : []));
      expect(gaps.map((i) => `${numbers[i - 1]} → ${numbers[i]} at record ${i}`)).toEqual([]);
    }
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });
});
