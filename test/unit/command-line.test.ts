// Which string commands can run without /bin/sh: plain words only; anything the shell reads differently
// keeps it.
import { describe, expect, it } from 'vitest';
import { plainWords } from '../../src/config/command-line.js';

describe('plainWords', () => {
  it('splits a command of plain words on spaces', () => {
    expect(plainWords('node server.js')).toEqual(['node', 'server.js']);
    expect(plainWords('  npm  run dev  ')).toEqual(['npm', 'run', 'dev']);
    expect(plainWords('./bin/app --port=3000 -v a,b @scope/x:1 +x %y')).toEqual([
      './bin/app',
      '--port=3000',
      '-v',
      'a,b',
      '@scope/x:1',
      '+x',
      '%y',
    ]);
  });

  it('keeps the shell for shell syntax, assignments and builtins', () => {
    for (const line of [
      'node a.js && node b.js',
      'node a.js | tee out',
      'node a.js > out.log',
      'node a.js; echo done',
      'node "my app.js"',
      "node 'a.js'",
      'node $APP',
      'node `which app`',
      'node *.js',
      'node ~/app.js',
      'node a\\ b.js',
      'node a.js # comment',
      'node a.js &',
      '(node a.js)',
      'PORT=1 node a.js',
      'cd app',
      'exec node a.js',
      '. ./env.sh',
      'node a.js\nnode b.js',
      'node\ta.js',
      '',
      '   ',
    ]) {
      expect(plainWords(line), line).toBeUndefined();
    }
  });
});
