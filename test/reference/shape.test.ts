/**
 * The reference's shape helpers (engine/reference/shape.ts).
 */
import { describe, expect, it } from 'vitest';
import { broadcastShapes, broadcastSourceIndex, normalizeAxes, normalizeAxis, size, stridesOf, unravel } from '../../engine/reference/shape.ts';

describe('shape helpers', () => {
  it('size, strides and unravel', () => {
    expect(size([])).toBe(1);
    expect(size([2, 0, 3])).toBe(0);
    expect(stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(stridesOf([])).toEqual([]);
    expect(unravel(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravel(5, [2, 3, 4])).toEqual([0, 1, 1]);
  });
  it('broadcasts NumPy-style and names both shapes when it cannot', () => {
    expect(
      broadcastShapes([
        [4, 1, 3],
        [2, 1],
      ]),
    ).toEqual([4, 2, 3]);
    expect(broadcastShapes([[], [2, 2]])).toEqual([2, 2]);
    expect(broadcastShapes([[2, 0], [1]])).toEqual([2, 0]);
    expect(() => broadcastShapes([[2, 3], [4]], 'add')).toThrow(
      'add: cannot broadcast shapes [2, 3] and [4]: at dim -1 the sizes 3 and 4 differ and neither is 1',
    );
  });
  it('maps broadcast outputs back to their source element', () => {
    // [2,1] broadcast to [2,3]: rows repeat their single element.
    expect(Array.from(broadcastSourceIndex([2, 1], [2, 3]))).toEqual([0, 0, 0, 1, 1, 1]);
    // [3] broadcast to [2,3]: the row repeats.
    expect(Array.from(broadcastSourceIndex([3], [2, 3]))).toEqual([0, 1, 2, 0, 1, 2]);
  });
  it('normalises axes and rejects out-of-range or repeated ones', () => {
    expect(normalizeAxis(-1, 3, 'x')).toBe(2);
    expect(normalizeAxis(0, 3, 'x')).toBe(0);
    expect(() => normalizeAxis(3, 3, 'sum: axes[0]')).toThrow('sum: axes[0] must be an integer axis in [-3, 2] for rank 3, got 3');
    expect(() => normalizeAxis(-4, 3, 'op: axis')).toThrow(/got -4/);
    expect(() => normalizeAxis(1.5, 3, 'op: axis')).toThrow(/got 1.5/);
    expect(() => normalizeAxis(0, 0, 'op: axis')).toThrow(/input is a scalar/);
    expect(normalizeAxes([-1, 0], 3, 'axes')).toEqual([2, 0]);
    expect(() => normalizeAxes([1, -2], 3, 'axes')).toThrow(/must not repeat an axis, got \[1, -2\]/);
  });
});
