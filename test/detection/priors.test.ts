import { describe, expect, it } from 'vitest';
import { AnchorGenerator, countPerLevel, fcosPointGenerator, gflAnchorGenerator, retinaAnchorGenerator } from '../../detection/priors.ts';

function row(a: Float64Array, i: number, dim = 4): number[] {
  return [...a.subarray(dim * i, dim * i + dim)];
}

describe('GFL / ATSS anchors', () => {
  const gen = gflAnchorGenerator([8, 16]);
  const { priors, numLevelPriors, levelStart, levelOf } = gen.gridPriors([
    [2, 3],
    [1, 2],
  ]);

  it('counts one anchor per location per level', () => {
    expect(gen.numBaseAnchors).toBe(1);
    expect(numLevelPriors).toEqual([6, 2]);
    expect(levelStart).toEqual([0, 6]);
    expect([...levelOf]).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
    expect(priors.length).toBe(8 * 4);
  });

  it('places a square of side 8·stride centred on (x·stride, y·stride)', () => {
    // Level 0 (stride 8, side 64): location (0,0) → centre (0,0).
    expect(row(priors, 0)).toEqual([-32, -32, 32, 32]);
    // Row-major: index 5 = (y 1, x 2) → centre (16, 8).
    expect(row(priors, 5)).toEqual([-16, -24, 48, 40]);
    // Level 1 (stride 16, side 128): its second prior is x = 1 → centre (16, 0).
    expect(row(priors, 7)).toEqual([-48, -64, 80, 64]);
  });
});

describe('RetinaNet anchors', () => {
  const gen = retinaAnchorGenerator([8]);

  it('has 9 base anchors, ratio-major, of area (stride·4·2^(i/3))² and h/w = ratio', () => {
    expect(gen.numBaseAnchors).toBe(9);
    const base = gen.baseAnchors[0];
    const ratios = [0.5, 1, 2];
    for (let r = 0; r < 3; r++) {
      for (let s = 0; s < 3; s++) {
        const [x1, y1, x2, y2] = row(base, 3 * r + s);
        const w = x2 - x1,
          h = y2 - y1;
        const side = 8 * 4 * 2 ** (s / 3);
        expect(w * h).toBeCloseTo(side * side, 9);
        expect(h / w).toBeCloseTo(ratios[r], 12);
        expect(x1 + x2).toBeCloseTo(0, 12); // centred on the location
      }
    }
    // Ratio 0.5 at scale 1: w = 32·√2 ≈ 45.2548, h = 32/√2 ≈ 22.6274.
    const first = row(base, 0);
    expect(first[0]).toBeCloseTo(-16 * Math.SQRT2, 12);
    expect(first[1]).toBeCloseTo(-8 * Math.SQRT2, 12);
    // Ratio 1 at scale 1 is the plain 32×32 square.
    expect(row(base, 3)).toEqual([-16, -16, 16, 16]);
  });

  it('repeats the 9 anchors at each location, location-major', () => {
    const { priors, numLevelPriors } = gen.gridPriors([[2, 2]]);
    expect(numLevelPriors).toEqual([36]);
    // Location 1 is (x 1, y 0): the same 9 anchors shifted by (8, 0).
    for (let k = 0; k < 9; k++) {
      const a = row(priors, k),
        b = row(priors, 9 + k);
      // (irrational sides: equal up to rounding)
      [8, 0, 8, 0].forEach((d, c) => expect(b[c] - a[c]).toBeCloseTo(d, 12));
    }
    // Location 2 is (x 0, y 1): its ratio-1 scale-1 anchor (base index 3) is the 32×32 square at (0, 8).
    expect(row(priors, 18 + 3)).toEqual([-16, -8, 16, 24]);
  });
});

describe('FCOS points', () => {
  it('sits at cell centres ((x+0.5)·s, (y+0.5)·s)', () => {
    const gen = fcosPointGenerator([8, 16]);
    const { priors, dim, numLevelPriors } = gen.gridPriors([
      [2, 3],
      [1, 1],
    ]);
    expect(dim).toBe(2);
    expect(numLevelPriors).toEqual([6, 1]);
    expect([...priors]).toEqual([4, 4, 12, 4, 20, 4, 4, 12, 12, 12, 20, 12, 8, 8]);
  });
});

describe('valid flags for padded images', () => {
  // A 60×100 (h×w) image padded to 64×128, strides 8/16/32 → feature maps 8×16, 4×8, 2×4.
  const sizes = [
    [8, 16],
    [4, 8],
    [2, 4],
  ] as const;

  it('drops anchors centred on the padding', () => {
    const gen = gflAnchorGenerator([8, 16, 32]);
    const flags = gen.validFlags(sizes, [60, 100]);
    const { numLevelPriors } = gen.gridPriors(sizes);
    // Stride 8: centres x·8 < 100 ⇔ x ≤ 12 (x = 12 sits at 96, x = 13 at 104): 13 of 16
    //   columns; y·8 < 60 ⇔ y ≤ 7: all 8 rows → 104 valid.
    // Stride 16: x·16 < 100 ⇔ x ≤ 6: 7 of 8 columns × 4 rows → 28.
    // Stride 32: x ≤ 3 (96 < 100), y ≤ 1 (32 < 60): all 8.
    expect(countPerLevel(flags, numLevelPriors)).toEqual([104, 28, 8]);
    expect(flags[12]).toBe(1);
    expect(flags[13]).toBe(0);
    expect(flags[16 + 12]).toBe(1); // second row starts again at column 0
  });

  it('repeats each location flag for every anchor there', () => {
    const gen = retinaAnchorGenerator([8, 16, 32]);
    const flags = gen.validFlags(sizes, [60, 100]);
    expect(countPerLevel(flags, gen.gridPriors(sizes).numLevelPriors)).toEqual([104 * 9, 28 * 9, 8 * 9]);
  });

  it("uses mmdetection's ceil rule for points too", () => {
    // ceil(100/8) = 13 columns at stride 8: the point of column 12 sits at 100, on the
    // image edge, and still counts (as mmdetection's MlvlPointGenerator).
    const flags = fcosPointGenerator([8, 16, 32]).validFlags(sizes, [60, 100]);
    expect(countPerLevel(flags, [128, 32, 8])).toEqual([104, 28, 8]);
  });

  it('rejects mismatched levels and bad sizes', () => {
    const gen = gflAnchorGenerator([8, 16]);
    expect(() => gen.gridPriors([[2, 2]])).toThrow(/1 feature-map sizes for 2 strides/);
    expect(() =>
      gen.gridPriors([
        [2, 2],
        [1.5, 1],
      ]),
    ).toThrow(/level 1/);
    expect(() => new AnchorGenerator({ strides: [8], ratios: [1], octaveBaseScale: 8, scalesPerOctave: 0 })).toThrow(/scalesPerOctave/);
    expect(() => countPerLevel([1, 0], [3])).toThrow(/2 flags for 3 priors/);
  });
});
