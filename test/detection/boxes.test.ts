import { describe, expect, it } from 'vitest';
import {
  bboxOverlaps,
  boxAreas,
  boxCenters,
  boxCount,
  boxesFrom,
  boxesToRows,
  clipBoxes,
  validateBoxes,
  xywhRowsToBoxes,
  xyxyToXywh,
} from '../../detection/boxes.ts';

function expectAllClose(got: ArrayLike<number>, want: number[], tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i]), `element ${i}: got ${got[i]}, want ${want[i]}`).toBeLessThanOrEqual(tol);
  }
}

// a0 = [0,0,10,10] (area 100), a1 = [5,5,15,15] (area 100)
// b0 = [0,0,10,10] (100), b1 = [10,10,20,20] (100), b2 = [0,0,5,20] (100)
const a = boxesFrom([
  [0, 0, 10, 10],
  [5, 5, 15, 15],
]);
const b = boxesFrom([
  [0, 0, 10, 10],
  [10, 10, 20, 20],
  [0, 0, 5, 20],
]);

describe('boxes', () => {
  it('packs, unpacks, counts and measures', () => {
    expect(boxCount(b)).toBe(3);
    expect(boxesToRows(a)).toEqual([
      [0, 0, 10, 10],
      [5, 5, 15, 15],
    ]);
    expect([...boxAreas(b)]).toEqual([100, 100, 100]);
    expect([...boxCenters(b)]).toEqual([5, 5, 15, 15, 2.5, 10]);
    expect(() => boxCount(new Float64Array(5))).toThrow(/multiple of 4/);
    expect(() => boxesFrom([[0, 0, 1]])).toThrow(/row 0 has 3 values/);
  });

  it('IoU matrix worked by hand', () => {
    // a0,b0: identical → 1.
    // a0,b1: they only touch at (10,10): intersection 0 → 0.
    // a0,b2: intersection [0,5]×[0,10] = 50; union 100+100-50 = 150 → 1/3.
    // a1,b0: intersection [5,10]×[5,10] = 25; union 175 → 1/7.
    // a1,b1: intersection [10,15]×[10,15] = 25 → 1/7.
    // a1,b2: x-overlap [5,5] has width 0 → 0.
    expectAllClose(bboxOverlaps(a, b), [1, 0, 1 / 3, 1 / 7, 1 / 7, 0]);
    // Transposing the arguments transposes the matrix.
    expectAllClose(bboxOverlaps(b, a), [1, 1 / 7, 0, 1 / 7, 1 / 3, 0]);
  });

  it('IoF divides by the first box only', () => {
    // a0,b2: 50 / area(a0) = 0.5; a1,b0: 25 / 100 = 0.25; a1,b1: 0.25.
    expectAllClose(bboxOverlaps(a, b, 'iof'), [1, 0, 0.5, 0.25, 0.25, 0]);
  });

  it('GIoU subtracts the empty share of the enclosing box', () => {
    // a0,b1: IoU 0, enclosing [0,0,20,20] = 400, union 200 → 0 - 200/400 = -0.5.
    // a1,b0: IoU 1/7, enclosing [0,0,15,15] = 225, union 175 → 1/7 - 50/225 = -5/63.
    // a0,b2: IoU 1/3, enclosing [0,0,10,20] = 200, union 150 → 1/3 - 50/200 = 1/12.
    const g = bboxOverlaps(a, b, 'giou');
    expect(g[0]).toBeCloseTo(1, 12);
    expect(g[1]).toBeCloseTo(-0.5, 12);
    expect(g[2]).toBeCloseTo(1 / 12, 12);
    expect(g[3]).toBeCloseTo(-5 / 63, 12);
  });

  it('eps turns the 0/0 of degenerate boxes into 0', () => {
    const point = boxesFrom([[3, 3, 3, 3]]);
    expect([...bboxOverlaps(point, point)]).toEqual([0]);
    expect(bboxOverlaps(new Float64Array(0), b).length).toBe(0);
  });

  it('validateBoxes names the box and the problem', () => {
    expect(() =>
      validateBoxes(
        boxesFrom([
          [0, 0, 1, 1],
          [5, 0, 4, 1],
        ]),
        { what: 'gt boxes of image 7' },
      ),
    ).toThrow('gt boxes of image 7: box 1 [5, 0, 4, 1] has x2 < x1');
    expect(() => validateBoxes(boxesFrom([[0, 2, 1, 1]]))).toThrow('boxes: box 0 [0, 2, 1, 1] has y2 < y1');
    expect(() =>
      validateBoxes(
        boxesFrom([
          [0, 0, 1, 1],
          [0, 0, 1, 1],
          [0, NaN, 1, 1],
        ]),
      ),
    ).toThrow(/box 2 .* non-finite/);
    expect(() => validateBoxes(boxesFrom([[0, 0, 1, Infinity]]))).toThrow(/box 0 .* non-finite/);
    // [height, width] = [20, 30]: x up to 30 and y up to 20 are inside.
    expect(() => validateBoxes(boxesFrom([[0, 0, 30, 20]]), { imageSize: [20, 30] })).not.toThrow();
    expect(() => validateBoxes(boxesFrom([[0, 0, 30, 21]]), { imageSize: [20, 30] })).toThrow(/box 0 .* outside the 30x20 image/);
    expect(() => validateBoxes(boxesFrom([[-1, 0, 3, 3]]), { imageSize: [20, 30] })).toThrow(/outside/);
    // Zero-size boxes are the caller's policy, not malformed.
    expect(() => validateBoxes(boxesFrom([[4, 4, 4, 9]]))).not.toThrow();
  });

  it('clips into the image and converts to and from COCO xywh', () => {
    const boxes = boxesFrom([[-5, 3, 40, 25]]);
    clipBoxes(boxes, [20, 30]);
    expect([...boxes]).toEqual([0, 3, 30, 20]);
    expect(xyxyToXywh(2, 3, 12, 8)).toEqual([2, 3, 10, 5]);
    expect([...xywhRowsToBoxes([[2, 3, 10, 5]])]).toEqual([2, 3, 12, 8]);
  });
});
