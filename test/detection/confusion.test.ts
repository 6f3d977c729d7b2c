import { describe, expect, it } from 'vitest';
import { classConfusion, formatConfusion } from '../../detection/eval/confusion.ts';
import type { Detections } from '../../detection/postprocess.ts';

const dets = (rows: [number, number, number, number, number, number][]): Detections => ({
  bboxes: Float64Array.from(rows.flatMap((r) => r.slice(0, 4))),
  scores: Float64Array.from(rows.map((r) => r[4])),
  labels: Int32Array.from(rows.map((r) => r[5])),
});

describe('classConfusion (worked by hand)', () => {
  // Image 0: a class-0 object at [0,0,10,10] and a class-1 object at [20,20,30,30].
  // Image 1: a class-2 object at [0,0,10,10], nothing overlapping it.
  const records = [
    { boxes: Float64Array.from([0, 0, 10, 10, 20, 20, 30, 30]), labels: Int32Array.from([0, 1]) },
    { boxes: Float64Array.from([0, 0, 10, 10]), labels: Int32Array.from([2]) },
  ];
  const detections = [
    dets([
      [0, 0, 10, 10, 0.4, 0], // object 0, right class, lower score
      [0, 0, 10, 11, 0.9, 2], // object 0, IoU 100/110 ≈ 0.91, wrong class, higher score: it wins
      [20, 20, 30, 30, 0.8, 1], // object 1, right class
      [20, 20, 24, 30, 0.99, 0], // object 1, IoU 0.4 < 0.5: does not count
    ]),
    dets([[50, 50, 60, 60, 0.9, 2]]), // far away: object 2 missed
  ];

  it('takes the best-scoring detection of any class above the IoU threshold', () => {
    const c = classConfusion(records, detections, 3);
    expect(c.objects).toBe(3);
    expect(c.found).toBe(2);
    expect(c.rightClass).toBe(1);
    expect(c.matrix).toEqual([
      [0, 0, 1, 0],
      [0, 1, 0, 0],
      [0, 0, 0, 1],
    ]);
  });

  it('a lower IoU threshold lets the thin box of score 0.99 win object 1', () => {
    const c = classConfusion(records, detections, 3, 0.4);
    expect(c.matrix[1]).toEqual([1, 0, 0, 0]);
    expect(c.rightClass).toBe(0);
  });

  it('formats counts and shares', () => {
    const text = formatConfusion(classConfusion(records, detections, 3), ['a', 'b', 'c']);
    expect(text).toContain('3 objects; a detection of any class at IoU ≥ 0.5: 2 (66.7%)');
    expect(text).toContain('1 (50.0% of those found)');
    expect(text.split('\n')).toHaveLength(5);
  });

  it('rejects mismatched inputs with clear errors', () => {
    expect(() => classConfusion(records, detections.slice(0, 1), 3)).toThrow(/2 ground-truth images but 1 detection lists/);
    expect(() => classConfusion(records, detections, 2)).toThrow(/label 2 outside \[0, 2\)/);
    expect(() => classConfusion(records, detections, 3, 0)).toThrow(/iouThreshold must be in \(0, 1\], got 0/);
  });
});
