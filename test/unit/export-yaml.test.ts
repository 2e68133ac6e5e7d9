// The exported files as Go's YAML readers (kubectl's, Compose's) and YAML 1.1 and 1.2 readers read them:
// a string stays a string, however much it looks like a number or a boolean.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { toYaml } from '../../src/export/yaml.js';

/** Strings that some reader takes for something else when written plain. */
const LOOKALIKES = [
  // Go's strconv.ParseInt(s, 0, 64), which go-yaml uses: any case of the prefix, a sign, underscores.
  '0o17',
  '0O17',
  '0B11',
  '0b11',
  '0X1F',
  '0x1F',
  '+0o7',
  '-0x1F',
  '0o1_7',
  '0x_1F',
  // go-yaml removes every `_` before it parses a number.
  '0X1F_',
  '0_x1F',
  '-_1',
  '1_0.5',
  // YAML 1.1 and 1.2.
  '017',
  '8080',
  '1_000',
  '1e3',
  '.5',
  '.inf',
  '.NaN',
  '~',
  'null',
  'true',
  'True',
  'no',
  'on',
  'y',
  '2001-12-14',
  '190:20:30',
];

describe('toYaml', () => {
  it('quotes every string a YAML 1.1, 1.2 or Go reader would read as a number, boolean or null', () => {
    const env = Object.fromEntries(LOOKALIKES.map((value, i) => [`V${i}`, value]));
    const text = toYaml([{ env, plain: ['web', '1s', '0xG', 'node server.js', 'a_1', '_'] }], ['a comment']);
    for (const [i, value] of LOOKALIKES.entries()) expect(text).toContain(`V${i}: "${value}"`);
    // Each reader gets the strings back.
    expect(YAML.parse(text, { version: '1.1' }).env).toEqual(env);
    expect(YAML.parse(text, { version: '1.2' }).env).toEqual(env);
    // What no reader mistakes stays plain.
    expect(text).toContain('  - web\n  - 1s\n  - 0xG\n  - node server.js\n  - a_1\n  - _\n');
    expect(text.startsWith('# a comment\n')).toBe(true);
  });
});
