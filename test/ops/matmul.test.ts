import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { matmulSpecs } from '../../engine/checks/specs/matmul.ts';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/random.ts';
import { referenceOps } from '../../engine/reference/index.ts';
import { diff } from '../../engine/checks/compare.ts';

/** max|got − ref| / max|ref| (the measure of gradcheck and parity) */
const relErr = (got: ArrayLike<number>, ref: ArrayLike<number>): number => diff(got, ref).rel;

beforeAll(async () => {
  await E.init();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const spec = matmulSpecs[0];
const tol = spec.tol;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The uniforms and constants of every matmul dispatch while fn runs. */
function matmulDispatches(fn: () => void): { constants: Record<string, unknown>; uniforms: Record<string, unknown> }[] {
  const seen: { constants: Record<string, unknown>; uniforms: Record<string, unknown> }[] = [];
  const rt = E.runtime();
  const real = rt.dispatch.bind(rt);
  vi.spyOn(rt, 'dispatch').mockImplementation((args) => {
    if (args.kernel === 'matmul') seen.push({ constants: { ...args.constants }, uniforms: { ...args.uniforms } });
    real(args);
  });
  try {
    fn();
  } finally {
    vi.restoreAllMocks();
  }
  return seen;
}

/**
 * matmul forward and backward (seeded normal inputs and upstream) against the float64
 * reference; returns the errors, for tests that want to look at them.
 */
async function check(aShape: number[], bShape: number[], seed = 1) {
  const rng = new Rng(seed);
  const av = rng.normal(size(aShape));
  const bv = rng.normal(size(bShape));
  const ref = referenceOps.matmul;
  const refIn = { a: { shape: aShape, data: av }, b: { shape: bShape, data: bv } };
  const want = ref.forward(refIn, {}).out;
  const gv = rng.normal(want.data.length);
  const wantGrad = ref.vjp(refIn, {}, { out: { shape: want.shape, data: gv } });

  const a = E.requireGrad(E.tensor(Float32Array.from(av), aShape));
  const b = E.requireGrad(E.tensor(Float32Array.from(bv), bShape));
  const out = E.matmul(a, b);
  expect(out.shape).toEqual(want.shape);
  const g = E.tensor(Float32Array.from(gv), want.shape);
  E.backward(out, g);
  expect(a.grad!.shape).toEqual(aShape);
  expect(b.grad!.shape).toEqual(bShape);
  const errs = {
    fwd: relErr(await out.data(), want.data),
    da: relErr(await a.grad!.data(), wantGrad.a!.data),
    db: relErr(await b.grad!.data(), wantGrad.b!.data),
  };
  expect(errs.fwd, 'forward').toBeLessThanOrEqual(tol.fwd);
  expect(errs.da, 'dA').toBeLessThanOrEqual(tol.bwd);
  expect(errs.db, 'dB').toBeLessThanOrEqual(tol.bwd);
  for (const t of [a, b, out, g]) t.dispose();
  return errs;
}

describe('matmul against the float64 reference', () => {
  for (const c of spec.cases)
    it(`spec case ${c.name}`, async () => {
      await check(c.inputs.a.shape, c.inputs.b.shape);
    });

  it('handles edges that cut every tile (rows, 64-column groups, batches)', async () => {
    await check([33, 70], [70, 130]);
    await check([2, 17, 9], [2, 9, 65]);
    await check([3, 1, 5, 31], [4, 31, 3]);
  });

  it('matches values worked by hand', async () => {
    const a = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = E.tensor([7, 8, 9, 10, 11, 12], [3, 2]);
    expect(Array.from(await E.matmul(a, b).data())).toEqual([58, 64, 139, 154]);
    expect(Array.from(await E.matmul(E.tensor([3], [1, 1]), E.tensor([-2], [1, 1])).data())).toEqual([-6]);
  });

  it('reduces a long inner dimension within tolerance', async () => {
    const { fwd } = await check([20, 1000], [1000, 24]);
    expect(fwd).toBeLessThan(tol.fwd);
  });
});

describe('matmul zero sizes', () => {
  it('returns zeros for K = 0 and their empty gradients', async () => {
    const a = E.requireGrad(E.empty([3, 0]));
    const b = E.requireGrad(E.empty([0, 4]));
    const out = E.matmul(a, b);
    expect(out.shape).toEqual([3, 4]);
    expect(Array.from(await out.data())).toEqual(new Array(12).fill(0));
    E.backward(E.sum(out));
    expect(a.grad!.shape).toEqual([3, 0]);
    expect(b.grad!.shape).toEqual([0, 4]);
  });

  it('returns empty outputs for M = 0, N = 0 and an empty batch without a dispatch', async () => {
    const seen = matmulDispatches(() => {
      expect(E.matmul(E.empty([0, 5]), E.empty([5, 3])).shape).toEqual([0, 3]);
      expect(E.matmul(E.empty([2, 5]), E.empty([5, 0])).shape).toEqual([2, 0]);
      expect(E.matmul(E.empty([0, 2, 5]), E.empty([5, 3])).shape).toEqual([0, 2, 3]);
      expect(E.matmul(E.empty([0, 2, 5]), E.empty([1, 5, 3])).shape).toEqual([0, 2, 3]);
    });
    expect(seen).toEqual([]);
  });
});

describe('matmul launches', () => {
  it('folds a batch against one matrix into a single tall product, forward and backward', () => {
    const a = E.requireGrad(E.randNormal([2, 3, 4, 5], 1));
    const b = E.requireGrad(E.randNormal([5, 6], 2));
    let out!: E.Tensor;
    const fwd = matmulDispatches(() => {
      out = E.matmul(a, b);
    });
    expect(fwd.map((d) => [d.uniforms.M, d.uniforms.N, d.uniforms.K, d.uniforms.batch_rank])).toEqual([[24, 6, 5, 0]]);
    const bwd = matmulDispatches(() => E.backward(out, E.onesLike(out)));
    // dA = g·Bᵀ (TRANS_B) with the batch folded; dB = Aᵀ·g (TRANS_A) summed over all 24 rows
    expect(bwd.map((d) => [d.constants, d.uniforms.M, d.uniforms.N, d.uniforms.K])).toEqual(
      expect.arrayContaining([
        [{ TRANS_A: false, TRANS_B: true }, 24, 5, 6],
        [{ TRANS_A: true, TRANS_B: false }, 5, 6, 24],
      ]),
    );
    expect(bwd).toHaveLength(2);
  });

  it('launches no weight-gradient product for an input that does not require grad', () => {
    const x = E.requireGrad(E.randNormal([4, 8], 1));
    const w = E.randNormal([8, 3], 2); // frozen
    const y = E.matmul(x, w);
    const bwd = matmulDispatches(() => E.backward(y, E.onesLike(y)));
    expect(bwd.map((d) => d.constants)).toEqual([{ TRANS_A: false, TRANS_B: true }]);
    expect(w.grad).toBeNull();
  });

  it('serves every shape from at most four pipelines (the transpose variants)', () => {
    E.matmul(E.randNormal([3, 7], 1), E.randNormal([7, 2], 2));
    E.matmul(E.randNormal([2, 30, 9], 1), E.randNormal([9, 41], 2));
    expect(E.runtime().pipelineCount('matmul')).toBeLessThanOrEqual(4);
  });

  it('splits more than 65535 batches over several launches', async () => {
    const n = 70_000;
    const rng = new Rng(9);
    const av = rng.normal(n * 2);
    const bv = rng.normal(n * 2);
    const a = E.tensor(Float32Array.from(av), [n, 1, 2]);
    const b = E.tensor(Float32Array.from(bv), [n, 2, 1]);
    let out!: E.Tensor;
    const seen = matmulDispatches(() => {
      out = E.matmul(a, b);
    });
    expect(seen.map((d) => d.uniforms.z0)).toEqual([0, 65535]);
    const got = await out.data();
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const want = av[2 * i] * bv[2 * i] + av[2 * i + 1] * bv[2 * i + 1];
      worst = Math.max(worst, Math.abs(got[i] - want));
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('matmul argument errors', () => {
  const t = (shape: number[]) => E.zeros(shape);

  it('rejects 1-D operands, naming the argument', () => {
    expect(() => E.matmul(t([5]), t([5, 2]))).toThrow('matmul: a must have rank ≥ 2 ([..., rows, cols]), got shape [5]');
    expect(() => E.matmul(t([2, 5]), t([5]))).toThrow('matmul: b must have rank ≥ 2 ([..., rows, cols]), got shape [5]');
  });

  it('rejects mismatched inner dimensions', () => {
    expect(() => E.matmul(t([3, 5]), t([6, 2]))).toThrow('matmul: b.shape[-2] must equal a.shape[-1] (5), got 6');
    expect(() => E.matmul(t([2, 3, 5]), t([2, 4, 2]))).toThrow('matmul: b.shape[-2] must equal a.shape[-1] (5), got 4');
  });

  it('rejects batch dims that do not broadcast', () => {
    expect(() => E.matmul(t([2, 3, 4]), t([3, 4, 5]))).toThrow('matmul: batch dims of a [2,3,4] and b [3,4,5] cannot be broadcast (batch dim 0: 2 vs 3)');
  });

  it('rejects integer tensors', () => {
    expect(() => E.matmul(E.tensor([1, 2], [1, 2], 'int32'), t([2, 1]))).toThrow(/matmul: a must have dtype float32, got int32/);
  });
});
