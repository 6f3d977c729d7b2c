/**
 * The strided-copy and upsampling kernels at shapes the small gradcheck cases do not reach:
 * innermost runs longer than one invocation's run and not a multiple of it, dimensions that
 * coalesce and ones that do not, broadcast (stride-0) reads, and a few million elements.
 * Forward against the float64 reference (engine/reference/movement.ts): a copy is exact.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { coalesceStrides } from '../../engine/shape.ts';
import { referenceOps } from '../../engine/reference/index.ts';
import { Rng } from '../../engine/random.ts';

beforeAll(async () => {
  await E.init();
});

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

async function check(op: string, shape: number[], attrs: Record<string, unknown>, run: (x: E.Tensor) => E.Tensor) {
  const data = new Rng(shape.length + numel(shape)).normal(numel(shape));
  const x = E.tensor(data, shape);
  const y = run(x);
  const want = referenceOps[op].forward({ x: { shape, data: Float64Array.from(data) } }, attrs).out;
  expect(y.shape).toEqual(want.shape);
  const got = (await y.data()) as Float32Array;
  expect(got.length).toBe(want.data.length);
  let bad = -1;
  for (let i = 0; i < got.length && bad < 0; i++) if (got[i] !== Math.fround(want.data[i])) bad = i;
  expect(bad, `first mismatch at ${bad}`).toBe(-1);
  x.dispose();
  y.dispose();
}

describe('strided copies against the reference', () => {
  it('permute NCHW → NHWC, [3, 37, 29, 13]', () => check('permute', [3, 37, 29, 13], { dims: [0, 2, 3, 1] }, (x) => E.permute(x, [0, 2, 3, 1])));
  it('permute reversing all axes, [5, 7, 11, 3]', () => check('permute', [5, 7, 11, 3], { dims: [3, 2, 1, 0] }, (x) => E.permute(x, [3, 2, 1, 0])));
  it('slice of a long contiguous block, [4, 96, 33, 17] → channels 5..70', () =>
    check('slice', [4, 96, 33, 17], { starts: [0, 5, 0, 0], ends: [4, 70, 33, 17] }, (x) => E.slice(x, [0, 5, 0, 0], [4, 70, 33, 17])));
  it('slice in every axis, [6, 9, 31, 23]', () =>
    check('slice', [6, 9, 31, 23], { starts: [1, 2, 3, 4], ends: [5, 9, 30, 13] }, (x) => E.slice(x, [1, 2, 3, 4], [5, 9, 30, 13])));
  it('pad, [2, 3, 45, 19]', () =>
    check(
      'pad',
      [2, 3, 45, 19],
      {
        pads: [
          [0, 0],
          [1, 2],
          [3, 0],
          [5, 7],
        ],
      },
      (x) =>
        E.pad(x, [
          [0, 0],
          [1, 2],
          [3, 0],
          [5, 7],
        ]),
    ));
  it('upsample ×2, [2, 5, 37, 23] and [8, 64, 32, 32] (2 M outputs)', async () => {
    await check('upsample_nearest2x', [2, 5, 37, 23], {}, (x) => E.upsampleNearest2x(x));
    await check('upsample_nearest2x', [8, 64, 32, 32], {}, (x) => E.upsampleNearest2x(x));
  });

  it('max pool 3×3 stride 2 padding 1 (the ResNet stem), [8, 16, 64, 64] and odd [2, 3, 37, 23]', async () => {
    const attrs = { kernel_size: [3, 3], stride: [2, 2], padding: [1, 1] };
    const run = (x: E.Tensor) => E.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
    await check('max_pool2d', [8, 16, 64, 64], attrs, run);
    await check('max_pool2d', [2, 3, 37, 23], attrs, run);
  });

  it('max pool: NaN wins its window, and bad geometry is named', async () => {
    const x = E.tensor([1, Number.NaN, 3, 2, 0, 4, -1, 5], [1, 2, 2, 2]);
    expect(Array.from((await E.maxPool2d(x, { kernelSize: 2 }).data()) as Float32Array)).toEqual([Number.NaN, 5]);
    expect(() => E.maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(
      'maxPool2d: padding must be at most half the kernel size, got padding [2, 2] for kernel [3, 3]',
    );
    expect(() => E.maxPool2d(x, { kernelSize: [2, 0] })).toThrow('maxPool2d: kernelSize must be integers ≥ 1, got [2,0]');
    expect(() => E.maxPool2d(E.tensor([1, 2], [1, 2]), { kernelSize: 2 })).toThrow('maxPool2d: x must be [N,C,H,W], got [1,2]');
    x.dispose();
  });

  it('concat and expand match a direct computation', async () => {
    const a = E.tensor(new Rng(1).normal(2 * 3 * 41), [2, 3, 41]);
    const b = E.tensor(new Rng(2).normal(2 * 5 * 41), [2, 5, 41]);
    const [av, bv] = [(await a.data()) as Float32Array, (await b.data()) as Float32Array];
    const c = (await E.concat([a, b], 1).data()) as Float32Array;
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 8; k++)
        for (let i = 0; i < 41; i++) expect(c[(n * 8 + k) * 41 + i]).toBe(k < 3 ? av[(n * 3 + k) * 41 + i] : bv[(n * 5 + k - 3) * 41 + i]);
    const row = E.tensor(new Rng(3).normal(29), [1, 29]);
    const rv = (await row.data()) as Float32Array;
    const e = (await E.expand(row, [13, 29]).data()) as Float32Array;
    for (let r = 0; r < 13; r++) for (let i = 0; i < 29; i++) expect(e[r * 29 + i]).toBe(rv[i]);
  });
});

describe('coalesceStrides for a copy (x and out strides)', () => {
  it('merges dimensions both sides walk as one, drops size-1 ones', () => {
    // a contiguous [2,3,4] copy is one run of 24
    expect(
      coalesceStrides(
        [2, 3, 4],
        [
          [12, 4, 1],
          [12, 4, 1],
        ],
      ),
    ).toEqual({ shape: [24], strides: [[1], [1]] });
    // a channel slice of [2, 10, 4, 4] (channels 3..8): rows of 5·16 elements
    expect(
      coalesceStrides(
        [2, 5, 4, 4],
        [
          [160, 16, 4, 1],
          [80, 16, 4, 1],
        ],
      ),
    ).toEqual({
      shape: [2, 80],
      strides: [
        [160, 1],
        [80, 1],
      ],
    });
    // NCHW → NHWC: H and W merge, C stays innermost
    expect(
      coalesceStrides(
        [2, 4, 4, 3],
        [
          [48, 4, 1, 16],
          [48, 12, 3, 1],
        ],
      ),
    ).toEqual({
      shape: [2, 16, 3],
      strides: [
        [48, 1, 16],
        [48, 3, 1],
      ],
    });
    // size-1 dimensions go; an all-ones shape keeps one dimension
    expect(
      coalesceStrides(
        [1, 5, 1],
        [
          [5, 1, 1],
          [5, 1, 1],
        ],
      ),
    ).toEqual({ shape: [5], strides: [[1], [1]] });
    expect(
      coalesceStrides(
        [1, 1],
        [
          [1, 1],
          [1, 1],
        ],
      ),
    ).toEqual({ shape: [1], strides: [[0], [0]] });
    // a broadcast (stride 0) read does not merge with its neighbour
    expect(
      coalesceStrides(
        [3, 4],
        [
          [0, 1],
          [4, 1],
        ],
      ),
    ).toEqual({
      shape: [3, 4],
      strides: [
        [0, 1],
        [4, 1],
      ],
    });
  });
});

describe('coalesceStrides with broadcasting operands', () => {
  it('a scalar broadcast over a contiguous output is one dimension', () => {
    expect(
      coalesceStrides(
        [8, 68, 16, 16],
        [
          [17408, 256, 16, 1],
          [17408, 256, 16, 1],
          [0, 0, 0, 0],
        ],
      ),
    ).toEqual({
      shape: [139264],
      strides: [[1], [1], [0]],
    });
  });
  it('a per-channel bias keeps the channel axis apart from the merged spatial ones', () => {
    expect(
      coalesceStrides(
        [2, 3, 4, 5],
        [
          [60, 20, 5, 1],
          [60, 20, 5, 1],
          [0, 1, 0, 0],
        ],
      ),
    ).toEqual({
      shape: [2, 3, 20],
      strides: [
        [60, 20, 1],
        [60, 20, 1],
        [0, 1, 0],
      ],
    });
  });
});

describe('broadcasting elementwise ops over coalesced dimensions', () => {
  it('add, mul and where with scalar, per-channel and row broadcasts match a direct computation', async () => {
    const shape = [3, 5, 7, 11];
    const n = 3 * 5 * 7 * 11;
    const xv = Float32Array.from(new Rng(4).normal(n));
    const x = E.tensor(xv, shape);
    const ch = Float32Array.from(new Rng(5).normal(5));
    const rowv = Float32Array.from(new Rng(6).normal(11));
    const got = {
      scalar: (await E.mul(x, E.tensor([2.5], [1])).data()) as Float32Array,
      channel: (await E.add(x, E.tensor(ch, [1, 5, 1, 1])).data()) as Float32Array,
      row: (await E.sub(E.tensor(rowv, [11]), x).data()) as Float32Array,
      where: (await E.where(E.greater(x, E.tensor([0], [1])), x, E.tensor(ch, [5, 1, 1])).data()) as Float32Array,
    };
    for (let i = 0; i < n; i++) {
      const c = Math.floor(i / 77) % 5;
      const w = i % 11;
      expect(got.scalar[i]).toBe(Math.fround(xv[i] * 2.5));
      expect(got.channel[i]).toBe(Math.fround(xv[i] + ch[c]));
      expect(got.row[i]).toBe(Math.fround(rowv[w] - xv[i]));
      expect(got.where[i]).toBe(xv[i] > 0 ? xv[i] : ch[c]);
    }
  });
});
