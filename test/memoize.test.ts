import { describe, expect, it } from 'vitest';
import { memoizeByJson } from '../src/memoize.js';

describe('memoizeByJson', () => {
  it('computes once per distinct argument, keeps at most `max`, and evicts the least recently used first', () => {
    const computed: number[] = [];
    const square = memoizeByJson((n: { n: number }) => {
      computed.push(n.n);
      return n.n * n.n;
    }, 3);
    expect([square({ n: 1 }), square({ n: 2 }), square({ n: 1 }), square({ n: 3 })]).toEqual([1, 4, 1, 9]);
    expect(computed).toEqual([1, 2, 3]);
    // Full: a fourth argument evicts 2 (the least recently used), not everything.
    square({ n: 4 });
    square({ n: 1 });
    square({ n: 3 });
    expect(computed).toEqual([1, 2, 3, 4]);
    square({ n: 2 });
    expect(computed).toEqual([1, 2, 3, 4, 2]);
  });
});
