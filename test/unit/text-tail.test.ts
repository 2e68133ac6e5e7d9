// textTail: the last characters of a text that comes in pieces, as engineCommand keeps a command's output.
import { describe, expect, it } from 'vitest';
import { textTail } from '../../src/runtime/container/engine.js';

describe('textTail', () => {
  it('keeps the last characters, across pieces and past the point where it cuts', () => {
    const tail = textTail(4);
    tail.push('abc');
    expect(tail.text()).toBe('abc');
    tail.push('defghij');
    expect(tail.text()).toBe('ghij');
    tail.push('k');
    expect(tail.text()).toBe('hijk');
  });

  it('keeps nothing for 0', () => {
    const tail = textTail(0);
    expect(tail.text()).toBe('');
    tail.push('some output');
    expect(tail.text()).toBe('');
    tail.push('more');
    expect(tail.text()).toBe('');
  });

  it('never starts with half of a character made of two UTF-16 units', () => {
    const tail = textTail(3);
    tail.push('😀😀');
    expect(tail.text()).toBe('😀');
  });
});
