/**
 * The float64 norm references (engine/reference/norm.ts): group norm (worked values, central
 * differences), and batch norm: hand-worked forward values in both modes, the running-statistics update, central differences of the vjp in
 * training and eval mode (with and without the fused ReLU), and argument errors.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { finiteDiffCheck } from '../../engine/reference/finiteDiff.ts';
import { normReferenceOps as ops } from '../../engine/reference/norm.ts';
import type { RefAttrs, RefTensor } from '../../engine/reference/types.ts';
import { normalT, fd, expectValues } from './helpers.ts';

const t = (shape: number[], data: number[]): RefTensor => ({ shape, data: Float64Array.from(data) });
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const normal = (rng: Rng, shape: number[], mean = 0, std = 1): RefTensor => ({ shape, data: rng.normal(numel(shape), mean, std) });

function expectClose(got: Float64Array, want: number[], tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i]), `index ${i}: ${v} vs ${want[i]}`).toBeLessThan(tol));
}

describe('batch_norm forward', () => {
  // x [2, 2, 2]: channel 0 holds 1, 3 (n = 0) and 5, 7 (n = 1): mean 4, biased variance 5
  const x = t([2, 2, 2], [1, 3, 10, 10, 5, 7, 10, 12]);
  const running = { running_mean: t([2], [1, 2]), running_var: t([2], [4, 9]) };

  it('training: each channel over N and the spatial extent, biased variance', () => {
    const { out } = ops.batch_norm.forward({ x, ...running }, { training: true, eps: 0 });
    const r = 1 / Math.sqrt(5);
    // channel 1 holds 10, 10, 10, 12: mean 10.5, variance 0.75
    const q = 1 / Math.sqrt(0.75);
    expectClose(out.data, [-3 * r, -r, -0.5 * q, -0.5 * q, r, 3 * r, -0.5 * q, 1.5 * q]);
  });

  it('eval: the running statistics, then the affine and the ReLU', () => {
    const affine = { weight: t([2], [2, -1]), bias: t([2], [1, 0]) };
    const { out } = ops.batch_norm.forward({ x, ...running, ...affine }, { training: false, eps: 0 });
    // channel 0: (x − 1)/2·2 + 1 = x; channel 1: −(x − 2)/3
    expectClose(out.data, [1, 3, -8 / 3, -8 / 3, 5, 7, -8 / 3, -10 / 3]);
    const relu = ops.batch_norm.forward({ x, ...running, ...affine }, { training: false, eps: 0, relu: true }).out;
    expectClose(relu.data, [1, 3, 0, 0, 5, 7, 0, 0]);
  });

  it('training ignores the running statistics, which may then be absent', () => {
    const a = ops.batch_norm.forward({ x, ...running }, { training: true }).out.data;
    const b = ops.batch_norm.forward({ x }, { training: true }).out.data;
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('batch_norm_running_stats', () => {
  it('blends toward the batch with momentum, unbiased variance', () => {
    const x = t([2, 1, 2], [1, 3, 5, 7]); // mean 4, unbiased variance 20/3
    const out = ops.batch_norm_running_stats.forward({ x, running_mean: t([1], [0]), running_var: t([1], [1]) }, { momentum: 0.25 });
    expectClose(out.running_mean.data, [0.75 * 0 + 0.25 * 4]);
    expectClose(out.running_var.data, [0.75 * 1 + 0.25 * (20 / 3)]);
  });
  it('has no gradient', () => {
    const inputs = { x: t([2, 1], [1, 2]), running_mean: t([1], [0]), running_var: t([1], [1]) };
    const up = { running_mean: t([1], [1]), running_var: t([1], [1]) };
    expect(ops.batch_norm_running_stats.vjp(inputs, {}, up)).toEqual({ x: null, running_mean: null, running_var: null });
  });
});

describe('batch_norm vjp against central differences', () => {
  const cases: { name: string; shape: number[]; attrs: RefAttrs; affine?: boolean }[] = [
    { name: 'training [2,3,2,2]', shape: [2, 3, 2, 2], attrs: { training: true } },
    { name: 'training rank 2 [5,3]', shape: [5, 3], attrs: { training: true } },
    { name: 'training, two values a channel [2,3]', shape: [2, 3], attrs: { training: true } },
    { name: 'training, no affine [3,2,3]', shape: [3, 2, 3], attrs: { training: true }, affine: false },
    { name: 'training, fused ReLU', shape: [2, 3, 3, 3], attrs: { training: true, relu: true } },
    { name: 'eval [2,3,2,2]', shape: [2, 3, 2, 2], attrs: { training: false } },
    { name: 'eval, fused ReLU', shape: [2, 3, 3, 3], attrs: { training: false, relu: true } },
  ];
  for (const [k, c] of cases.entries())
    it(c.name, () => {
      const rng = new Rng(300 + k);
      const C = c.shape[1];
      const inputs: Record<string, RefTensor> = {
        x: normal(rng, c.shape, 0.5, 2),
        running_mean: normal(rng, [C]),
        running_var: { shape: [C], data: rng.uniform(C, 0.5, 2) },
      };
      if (c.affine !== false) Object.assign(inputs, { weight: normal(rng, [C], 1, 0.5), bias: normal(rng, [C]) });
      const attrs = { eps: 1e-5, ...c.attrs };
      const upstream = { out: normal(rng, c.shape) };
      const r = finiteDiffCheck(ops.batch_norm, inputs, attrs, upstream, ['running_mean', 'running_var']);
      expect(r.worstRelErr, JSON.stringify(r.perInput)).toBeLessThan(1e-6);
      const grads = ops.batch_norm.vjp(inputs, attrs, upstream);
      expect(grads.running_mean).toBeNull();
      expect(grads.running_var).toBeNull();
    });
});

describe('batch_norm argument errors', () => {
  const x = t([2, 2], [1, 2, 3, 4]);
  it('eval without running statistics', () => {
    expect(() => ops.batch_norm.forward({ x }, {})).toThrow(/eval mode \(training = false\) needs inputs 'running_mean' and 'running_var'/);
  });
  it('training on one value a channel', () => {
    expect(() => ops.batch_norm.forward({ x: t([1, 2], [1, 2]) }, { training: true })).toThrow(/more than one value per channel/);
  });
  it('per-channel shapes, names and attribute values', () => {
    expect(() => ops.batch_norm.forward({ x, weight: t([3], [1, 1, 1]) }, { training: true })).toThrow(/'weight' must have shape \[2\].*got \[3\]/);
    expect(() => ops.batch_norm.forward({ x, scale: t([2], [1, 1]) }, { training: true })).toThrow(/unexpected input 'scale'/);
    expect(() => ops.batch_norm.forward({ x }, { training: true, momentum: 2 })).toThrow(/'momentum' must be a number in \[0, 1\], got 2/);
    expect(() => ops.batch_norm.forward({ x }, { training: 'yes' })).toThrow(/'training' must be a boolean/);
  });
});

describe('group_norm', () => {
  it('normalises each group to mean 0 and variance 1 (weight 1, bias 0)', () => {
    const rng = new Rng(3);
    const [N, C, H, W] = [2, 6, 3, 4];
    const x = normalT(rng, [N, C, H, W], 3, 5);
    for (const G of [1, 2, 3, 6]) {
      const { out } = ops.group_norm.forward({ x, weight: t([C], new Array(C).fill(1)), bias: t([C], new Array(C).fill(0)) }, { num_groups: G, eps: 0 });
      const M = (C / G) * H * W;
      for (let i = 0; i < N * G; i++) {
        const grp = out.data.subarray(i * M, (i + 1) * M);
        const mean = grp.reduce((a, b) => a + b, 0) / M;
        const v = grp.reduce((a, b) => a + (b - mean) ** 2, 0) / M; // biased, as PyTorch
        expect(Math.abs(mean)).toBeLessThan(1e-12);
        expect(Math.abs(v - 1)).toBeLessThan(1e-12);
      }
    }
  });

  it('applies the affine per channel and the optional fused ReLU', () => {
    const x = t([1, 2, 2], [1, 3, -2, 2]); // one group per channel: x̂ = [-1, 1], [-1, 1]
    const attrs = { num_groups: 2, eps: 0 };
    const inputs = { x, weight: t([2], [2, 0.5]), bias: t([2], [1, -1]) };
    expectValues(ops.group_norm.forward(inputs, attrs).out.data, [-1, 3, -1.5, -0.5], 1e-12);
    expectValues(ops.group_norm.forward(inputs, { ...attrs, relu: true }).out.data, [0, 3, 0, 0], 1e-12);
  });

  const cases: { name: string; shape: number[]; G: number; relu?: boolean }[] = [
    { name: 'G = 1', shape: [2, 4, 3, 3], G: 1 },
    { name: 'G = 2', shape: [2, 4, 3, 3], G: 2 },
    { name: 'G = C', shape: [2, 4, 3, 3], G: 4 },
    { name: 'rank 2 [N,C]', shape: [3, 6], G: 3 },
    { name: 'rank 3', shape: [2, 4, 5], G: 2 },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences: ${c.name}`, () => {
      const rng = new Rng(200 + k);
      const C = c.shape[1];
      const inputs = { x: normalT(rng, c.shape, 2, 1), weight: normalT(rng, [C], 1, 1), bias: normalT(rng, [C]) };
      fd('group_norm', inputs, { num_groups: c.G, eps: 1e-5 }, 200 + k);
    });
  }

  it('finite differences with the fused ReLU (kink: 1e-5)', () => {
    for (const seed of [210, 211]) {
      const rng = new Rng(seed);
      const inputs = { x: normalT(rng, [2, 4, 3, 3]), weight: normalT(rng, [4], 1, 1), bias: normalT(rng, [4], 0.5) };
      fd('group_norm', inputs, { num_groups: 2, eps: 1e-5, relu: true }, seed, [], 1e-5);
    }
  });
});
