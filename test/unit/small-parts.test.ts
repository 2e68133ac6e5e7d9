// The small pure parts: probe thresholds, line splitting, output format, CLI args, exit codes, retry rule.
import { describe, expect, it } from 'vitest';
import { parseCliArgs, parseScale } from '../../src/cli/args.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { ERROR_CODES, isMsupError } from '../../src/errors.js';
import { applyProbeResult, INITIAL_COUNTERS } from '../../src/health/thresholds.js';
import { fitStyle, formatOutputLine, makeStyle, wantsColor } from '../../src/log/output.js';
import { LineSplitter } from '../../src/runtime/lines.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/processes.js';

describe('probe thresholds', () => {
  const t = { successThreshold: 2, failureThreshold: 3 };
  it('needs k successes in a row to be ready and n failures in a row to leave', () => {
    let c = INITIAL_COUNTERS;
    const changes: (string | null)[] = [];
    for (const ok of [true, false, true, true, false, false, true, false, false, false]) {
      const r = applyProbeResult(c, ok, t);
      c = r.counters;
      changes.push(r.change);
    }
    expect(changes).toEqual([null, null, null, 'ready', null, null, null, null, null, 'unready']);
  });
});

describe('LineSplitter', () => {
  it('emits whole lines across chunks, CRLF included, and flushes the rest', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('hel');
    s.push('lo\r\nwor');
    s.push(Buffer.from('ld\npart'));
    expect(lines).toEqual(['hello', 'world']);
    s.flush();
    expect(lines).toEqual(['hello', 'world', 'part']);
  });
  it('does not split a multi-byte character cut between chunks', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('héllo\n');
    s.push(bytes.subarray(0, 2));
    s.push(bytes.subarray(2));
    expect(lines).toEqual(['héllo']);
  });
  it('splits a line past 65,536 characters however it came, never inside a character', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    // A long line whose newline came with its last chunk (a pipe reads 64 KiB at a time: a 100,000-character
    // line came in two): it was passed on whole, up to about 128 KiB.
    s.push(Buffer.from('a'.repeat(65_536)));
    s.push(Buffer.from(`${'a'.repeat(70_000 - 65_536)}\n`));
    expect(lines.map((l) => l.length)).toEqual([65_536, 70_000 - 65_536]);
    lines.length = 0;
    // Emoji are two UTF-16 units each: after 'x', the 65,536th unit is the first half of one. Cut there,
    // both pieces held a lone half, each printed as U+FFFD.
    const emoji = `x${'😀'.repeat(40_000)}`;
    const bytes = Buffer.from(emoji);
    for (let at = 0; at < bytes.length; at += 10_000) s.push(bytes.subarray(at, at + 10_000));
    s.push(Buffer.from('\n'));
    expect(lines.join('')).toBe(emoji);
    for (const line of lines) {
      expect(line.length).toBeLessThanOrEqual(65_536);
      expect(Buffer.from(line).toString()).toBe(line); // no lone half: UTF-8 gives it back unchanged
    }
  });
  it('keeps a character whole when a quiet spell falls inside it', async () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 10);
    s.push(Buffer.from([0x61, 0xe2, 0x82])); // 'a' and the first two bytes of '€'
    // The quiet spell passes the partial line on.
    expect(await waitFor(() => lines.length === 1, 2000)).toBe(true);
    expect(lines).toEqual(['a']);
    s.push(Buffer.from([0xac, 0x0a]));
    expect(lines).toEqual(['a', '€']);
  });
});

/**
 * How many characters of strings `run` reads: one for each charCodeAt, and the span each indexOf or
 * lastIndexOf searched. Work counted, not time: a scan that goes back over the whole line at each chunk
 * shows as a count that grows with the square of the chunks.
 */
function charactersRead(run: () => void): number {
  const proto = String.prototype;
  const { charCodeAt, indexOf, lastIndexOf } = proto;
  const clamp = (at: number, length: number) => Math.min(Math.max(Math.trunc(at) || 0, 0), length);
  let read = 0;
  proto.charCodeAt = function (this: string, index: number) {
    read++;
    return charCodeAt.call(this, index);
  };
  proto.indexOf = function (this: string, search: string, position?: number) {
    const found = indexOf.call(this, search, position);
    read += (found === -1 ? this.length : found + search.length) - clamp(position ?? 0, this.length);
    return found;
  };
  proto.lastIndexOf = function (this: string, search: string, position?: number) {
    const found = lastIndexOf.call(this, search, position);
    read += clamp(position ?? this.length, this.length) + 1 - (found === -1 ? 0 : found);
    return found;
  };
  try {
    run();
  } finally {
    Object.assign(proto, { charCodeAt, indexOf, lastIndexOf });
  }
  return read;
}

describe('LineSplitter and carriage returns (progress bars)', () => {
  const split = () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    return { clock, lines, s: new LineSplitter((l) => lines.push(l), 100, clock) };
  };

  it('keeps only the last state of a bar redrawn faster than the quiet spell: one line at its newline', () => {
    const { lines, s } = split();
    // Ten thousand redraws with no quiet spell between them (about 150 KB). Before, nothing came out until
    // 64 KiB of them went out as one line, whose `\r`s wrote over the `web#0 |` prefix in a terminal.
    for (let i = 0; i <= 10_000; i++) s.push(`\rbuilding ${i}/10000`);
    expect(lines).toEqual([]);
    s.push(' done\n');
    expect(lines).toEqual(['building 10000/10000 done']);
  });

  it('shows a bar still being redrawn once a second, its last state, and never a carriage return', () => {
    const { clock, lines, s } = split();
    // A redraw every 20 ms for 2.4 s, then the newline.
    for (let i = 0; i < 120; i++) {
      s.push(`\r${i}%`);
      clock.advance(20);
    }
    s.push('\n');
    expect(lines).toEqual(['49%', '99%', '119%']);
    lines.length = 0;
    // Redrawn with the `\r` after the text: the same.
    for (let i = 0; i < 120; i++) {
      s.push(`${i}%\r`);
      clock.advance(20);
    }
    s.push('\n');
    expect(lines).toEqual(['49%', '99%', '119%']);
    lines.length = 0;
    // A bar that stops without its newline shows its last state within the second, once; the newline that
    // ends it later adds no line, nor does a state shown already.
    s.push('\rstep 1');
    s.push('\rstep 2');
    clock.advance(1000);
    expect(lines).toEqual(['step 2']);
    s.push('\rstep 2');
    clock.advance(1000);
    s.push('\n');
    expect(lines).toEqual(['step 2']);
    lines.length = 0;
    // A state past 65,536 characters goes out in pieces, none holding a `\r`.
    s.push('\rlong'.repeat(3));
    s.push(`\r${'é'.repeat(70_000)}\r\r`);
    clock.advance(1000);
    s.push('\rend\r');
    s.flush();
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['é'.repeat(3), 'é'.repeat(3), 'end']);
    for (const line of lines) expect(line).not.toContain('\r');
  });

  it('keeps the state shown while a line is redrawn: text that continues it ends the line whole', () => {
    const { clock, lines, s } = split();
    // The state shown after a second was let go of: '0%' came as a line of its own, and the bar's end
    // as '###] 100%'.
    s.push('\r5');
    clock.advance(1000);
    s.push('0%');
    s.push('\n');
    expect(lines).toEqual(['5', '50%']);
    lines.length = 0;
    s.push('\r[###');
    clock.advance(1000);
    s.push('###] 100%\n');
    expect(lines).toEqual(['[###', '[######] 100%']);
    lines.length = 0;
    // A state shown that nothing continues is not shown again at its newline, nor at the end.
    s.push('\rdone');
    clock.advance(1000);
    clock.advance(1000);
    s.push('\n');
    s.push('\rlast');
    clock.advance(1000);
    s.flush();
    expect(lines).toEqual(['done', 'last']);
  });

  it('drops a carriage return before a newline (CRLF, however it is cut), and keeps the text after the last one in a line', () => {
    const { clock, lines, s } = split();
    s.push('a\r\nb\r\r\nx\ry\r\n\r\n50%\r100%\r\nc\r');
    s.push('\n');
    expect(lines).toEqual(['a', 'b', 'y', '', '100%', 'c']);
    lines.length = 0;
    // A prompt still goes out after the quiet spell, and its newline adds no empty line.
    s.push('Name: ');
    clock.advance(100);
    expect(lines).toEqual(['Name: ']);
    s.push('\n');
    s.push('last\r');
    s.flush();
    expect(lines).toEqual(['Name: ', 'last']);
  });
});

describe('LineSplitter and moves to column 1 in escape sequences (spinners, progress bars)', () => {
  const split = () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    return { clock, lines, s: new LineSplitter((l) => lines.push(l), 100, clock) };
  };
  const ESC = '\u001b';

  it('restarts a line at ESC[G, ESC[1G and ESC[0G as at a \\r, and drops an erase in line at the start of its state', () => {
    const { lines, s } = split();
    // ora, Node's readline.cursorTo(0) then clearLine(1): ESC[1G ESC[0K and the frame. Before, the line went
    // out with every frame and its escapes: on a terminal, ESC[1G took the cursor back over `web#0 |`.
    for (const frame of ['⠋', '⠙', '⠹']) s.push(`${ESC}[1G${ESC}[0K${frame} installing`);
    s.push(`${ESC}[1G${ESC}[0K✔ installed\n`);
    // log-update (listr): ESC[2K ESC[G and the frame.
    for (let i = 0; i <= 3; i++) s.push(`${ESC}[2K${ESC}[Gtask ${i}/3`);
    s.push('\n');
    // cursorTo(0) then clearLine(0): ESC[2K at the state's start would erase the prefix; ESC[0G is column 1 too.
    s.push(`old${ESC}[1G${ESC}[2Knew\n`);
    s.push(`10%${ESC}[0G100%\n`);
    // Moves to column 1 before the newline are dropped, as a CRLF's `\r`; a mix of both restarts too.
    s.push(`done${ESC}[1G\n`);
    s.push(`a\rb${ESC}[Gc\n`);
    expect(lines).toEqual(['✔ installed', 'task 3/3', 'new', '100%', 'done', 'c']);
    const moves = ['\r', `${ESC}[G`, `${ESC}[1G`, `${ESC}[0G`, `${ESC}[0K`, `${ESC}[2K`];
    for (const line of lines) for (const move of moves) expect(line).not.toContain(move);
  });

  it('keeps colours and other escapes as they are, and finds a move to column 1 cut between two chunks', () => {
    const { lines, s } = split();
    const green = (text: string) => `${ESC}[32m${text}${ESC}[39m`;
    s.push(`${green('50%')}${ESC}[1G${green('100%')}\n`);
    // Bold, a colour with two parameters, columns 10 and 11, an erase in line after text: no restart.
    const kept = [
      `${ESC}[1mbold${ESC}[0m`,
      `${ESC}[1;31mred${ESC}[0m`,
      `a${ESC}[10Gb${ESC}[11Gc`,
      `text${ESC}[K`,
    ];
    for (const line of kept) s.push(`${line}\n`);
    s.push(`50%${ESC}[`);
    s.push(`1G100%\n`);
    s.push(`50%${ESC}`);
    s.push(`[1`);
    s.push(`G100%\n`);
    expect(lines).toEqual([green('100%'), ...kept, '100%', '100%']);
  });

  it('shows a bar redrawn with ESC[1G once a second, its last state, as one redrawn with \\r', () => {
    const { clock, lines, s } = split();
    for (let i = 0; i < 120; i++) {
      s.push(`${ESC}[1G${ESC}[2K${i}%`);
      clock.advance(20);
    }
    s.push('\n');
    expect(lines).toEqual(['49%', '99%', '119%']);
    lines.length = 0;
    // A spinner that clears its line and stops: no line of its own.
    s.push(`${ESC}[1Gspinning`);
    s.push(`${ESC}[1G${ESC}[2K`);
    s.flush();
    expect(lines).toEqual([]);
  });

  it('keeps a run of moves to column 1 at the end of a line as one: a run of them costs no more at each chunk', () => {
    for (const move of [`${ESC}[1G`, '\r']) {
      const { lines, s } = split();
      s.push('x');
      const chunk = move.repeat(512 / move.length);
      // Before, the run was kept whole (no bound: 64 KiB chunks of ESC[1G took 20 s and 77 MB, msup's
      // event loop blocked), and walked back over at each chunk: 10,000,000 to 28,000,000 characters read
      // here, 400,000 at most now.
      const read = charactersRead(() => {
        for (let i = 0; i < 100; i++) s.push(chunk);
      });
      expect(read).toBeLessThan(20 * 100 * chunk.length);
      s.push('y\n');
      s.push(`z${chunk}\n`);
      expect(lines).toEqual(['y', 'z']);
    }
  });

  it('reads each chunk of a line once, not the whole line again at each chunk', () => {
    const { lines, s } = split();
    // Colours with nothing between them: before, each push went back over every ESC of the line to its
    // start (21,000 of them took 8.2 s): about 8,500,000 characters read here. A push reads its chunk and
    // at most LONGEST characters before it (a few times over).
    const colour = `${ESC}[m`;
    const read = charactersRead(() => {
      for (let i = 0; i < 1000; i++) s.push(colour);
    });
    expect(read).toBeLessThan(200 * 1000);
    s.push('\n');
    expect(lines).toEqual([colour.repeat(1000)]);
    lines.length = 0;
    // A move to column 1 with zeros before its parameter, pushed one by one: up to 8 zeros it is one,
    // with more it is not (each push read all the zeros again).
    s.push(`a${ESC}[`);
    for (let i = 0; i < 8; i++) s.push('0');
    s.push('1Gb\n');
    expect(lines).toEqual(['b']);
    const zeros = charactersRead(() => {
      s.push(`a${ESC}[`);
      for (let i = 0; i < 1000; i++) s.push('0');
    });
    expect(zeros).toBeLessThan(100 * 1000); // before, about 2,000,000
    s.push('1Gb\n');
    expect(lines).toEqual(['b', `a${ESC}[${'0'.repeat(1000)}1Gb`]);
    // A line that ends in a G that is no move is not read back to an ESC at each chunk.
    const plain = charactersRead(() => {
      s.push(`${ESC}[1m`);
      for (let i = 0; i < 1000; i++) s.push('G');
    });
    expect(plain).toBeLessThan(100 * 1000); // before, about 3,000,000
  });

  it('wipes what was drawn before an erase of the line or of its start (ESC[2K, ESC[1K): no line erases the prefix', () => {
    const { lines, s } = split();
    // log-update's clear(): ESC[2K ESC[G after its last frame. Before, `task 2ESC[2K` went out: on a
    // terminal its ESC[2K erased the `web#0 |` prefix it came after.
    s.push(`${ESC}[2K${ESC}[Gtask 2`);
    s.push(`${ESC}[2K${ESC}[G`);
    s.flush();
    expect(lines).toEqual([]);
    // A frame wiped before its newline is an empty line; text after a wipe is the state.
    s.push(`frame${ESC}[2K${ESC}[1G\n`);
    s.push(`frame${ESC}[1K\n`);
    s.push(`frame${ESC}[2Kdone\n`);
    s.push(`frame${ESC}[01K${ESC}[0Kdone\n`);
    // An erase to the end of the line (ESC[K, ESC[0K) wipes nothing before it, and goes at a state's start.
    s.push(`frame${ESC}[K\n`);
    s.push(`${ESC}[1G${ESC}[0K${ESC}[Kdone\n`);
    expect(lines).toEqual(['', '', 'done', 'done', `frame${ESC}[K`, 'done']);
  });

  it('holds back an escape sequence cut at the end of what a quiet spell or a redraw shows, until its rest comes', () => {
    const { clock, lines, s } = split();
    // A prompt whose colour was cut: before, `Name: ESC[` went out, and on a terminal the open sequence
    // took the next letter printed (the `w` of the next line's `web#1 |`) as its end.
    s.push(`Name: ${ESC}[`);
    clock.advance(100);
    expect(lines).toEqual(['Name: ']);
    s.push('1mX\n');
    s.push(`ok${ESC}`);
    clock.advance(100);
    s.push('[32mgreen\n');
    expect(lines).toEqual(['Name: ', `${ESC}[1mX`, 'ok', `${ESC}[32mgreen`]);
    lines.length = 0;
    // A bar redrawn, its last frame cut inside a move to column 1: the state shown stops before it.
    s.push(`\r50%${ESC}[`);
    clock.advance(1000);
    expect(lines).toEqual(['50%']);
    s.push('1G60%\n');
    expect(lines).toEqual(['50%', '60%']);
  });

  it('drops an escape sequence a line ends inside, at its newline or at the stream end: it can never finish', () => {
    const { lines, s } = split();
    s.push(`Name: ${ESC}[\n`);
    s.push(`a${ESC}\n`);
    s.push(`${ESC}[31mred${ESC}[0m\n`);
    s.push(`abc ${ESC}[3`);
    s.flush();
    expect(lines).toEqual(['Name: ', 'a', `${ESC}[31mred${ESC}[0m`, 'abc ']);
  });
});

describe('output format', () => {
  const style = makeStyle(
    [
      { name: 'web', instances: 12 },
      { name: 'api', instances: 1 },
    ],
    false,
  );
  it('pads the prefix to the widest name#index', () => {
    expect(formatOutputLine({ service: 'api', index: 0, stream: 'stdout', line: 'hi' }, style)).toBe(
      'api#0  | hi\n',
    );
  });
  it('colours by service only when asked', () => {
    const coloured = makeStyle([{ name: 'web', instances: 1 }], true);
    expect(formatOutputLine({ service: 'web', index: 0, stream: 'stdout', line: 'x' }, coloured)).toBe(
      '\u001b[36mweb#0\u001b[39m | x\n',
    );
  });
  it('gives a service met later its own colour, and widens for an index past the count', () => {
    const services = [
      { name: 'web', instances: 2 },
      { name: 'api', instances: 1 },
    ];
    const first = fitStyle(undefined, services, { service: 'web', index: 0 }, true);
    expect(fitStyle(first, services, { service: 'api', index: 0 }, true)).toBe(first);
    // A service added by a reload (or one only the log files name): not the fallback white.
    const added = fitStyle(first, services, { service: 'jobs', index: 0 }, true);
    expect(new Set(added.palette.values()).size).toBe(3);
    expect(added.palette.get('web')).toBe(first.palette.get('web'));
    // Scaled to 12: web#11 widens the names, and they never get narrower again.
    const plain = fitStyle(undefined, services, { service: 'web', index: 0 }, false);
    const wide = fitStyle(plain, services, { service: 'web', index: 11 }, false);
    expect(formatOutputLine({ service: 'api', index: 0, stream: 'stdout', line: 'x' }, wide)).toBe(
      'api#0  | x\n',
    );
    const added2 = fitStyle(wide, services, { service: 'j', index: 0 }, false);
    expect(added2.width).toBe(6);
  });

  it('respects NO_COLOR and FORCE_COLOR', () => {
    expect(wantsColor(true, {})).toBe(true);
    expect(wantsColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(wantsColor(undefined, {})).toBe(false);
  });
});

describe('CLI arguments', () => {
  it('parses start with its options', () => {
    expect(
      parseCliArgs(['start', '-c', 'x.ts', '--json', '--no-color', '--no-watch', '-d', '--wait', '30s']),
    ).toEqual({
      command: 'start',
      rest: [],
      config: 'x.ts',
      json: true,
      color: false,
      watch: false,
      detach: true,
      background: false,
      wait: '30s',
      follow: false,
      lines: 50,
      timestamp: false,
      compare: {}, // compare's options, all unset
    });
    expect(parseCliArgs([]).command).toBe('help');
    expect(parseCliArgs(['logs', 'web', '-f', '-n', '5'])).toMatchObject({
      command: 'logs',
      rest: ['web'],
      follow: true,
      lines: 5,
    });
    expect(parseScale(['web=5', 'api=1'])).toEqual({ web: 5, api: 1 });
  });
  it('refuses a service named twice to msup scale (one of the counts would be dropped)', () => {
    expect(() => parseScale(['web=2', 'api=1', 'web=3'])).toThrow(
      expect.objectContaining({
        code: 'MSUP_USAGE',
        message:
          'scale: "web" is given twice (web=2 and web=3); give each service once (see msup scale --help)',
      }),
    );
  });
  it('rejects unknown options and commands with MSUP_USAGE', () => {
    for (const argv of [
      ['start', '--nope'],
      ['launch'],
      ['start', 'extra'],
      ['scale'],
      ['logs', '-n', 'x'],
    ]) {
      expect(() => parseCliArgs(argv)).toThrow(expect.objectContaining({ code: 'MSUP_USAGE' }));
    }
  });
  it('maps every error code to an exit code', () => {
    const codes = Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[];
    expect(Object.fromEntries(codes.map((c) => [c, exitCodeFor(c)]))).toMatchObject({
      MSUP_CONFIG_INVALID: 2,
      MSUP_USAGE: 2,
      MSUP_PORT_IN_USE: 3,
      MSUP_ALREADY_RUNNING: 3,
      MSUP_START_FAILED: 1,
      MSUP_NOT_RUNNING: 4,
    });
    expect(parseScale(['web=0'])).toEqual({ web: 0 });
    expect(() => parseScale(['web=-1'])).toThrow(/COUNT a whole number/);
    expect(isMsupError(new Error('x'))).toBe(false);
  });
});

describe('the supervisor as an event emitter', () => {
  it('takes any number of listeners without a leak warning (followers, the dashboard, dependency waits)', async () => {
    const { Supervisor } = await import('../../src/supervisor.js');
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const sup = new Supervisor({});
    const listeners = Array.from({ length: 20 }, () => () => {});
    for (const listener of listeners) sup.on('output', listener);
    // Node emits the warning on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    for (const listener of listeners) sup.off('output', listener);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
