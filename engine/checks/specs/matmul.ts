/**
 * OpSpec of the batched matrix product (engine/ops/matmul.ts); op id, inputs and output as
 * in test/opcases/README.md. Cases cover plain, batched and broadcast batches, sizes that
 * are not multiples of the kernel's 16×64 tile, and one case spanning several tiles.
 */
import * as E from '../../index.ts';
import { referenceOps } from '../../reference/index.ts';
import type { Tensor } from '../../tensor.ts';
import type { GradcheckCase, OpSpec } from '../spec.ts';

function input(inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`matmul: input '${name}' is missing`);
  return t;
}

const c = (name: string, a: number[], b: number[]): GradcheckCase => ({
  name,
  attrs: {},
  inputs: { a: { shape: a }, b: { shape: b } },
});

const cases: GradcheckCase[] = [
  c('2d_3x4_4x5', [3, 4], [4, 5]),
  c('2d_1x1_1x1', [1, 1], [1, 1]),
  c('odd_7x13_13x5', [7, 13], [13, 5]),
  c('batched_2x3x4_2x4x5', [2, 3, 4], [2, 4, 5]),
  // b shared by every batch of a: the batch folds into the rows, dB is one product
  c('bcast_2x3x4x5_5x6', [2, 3, 4, 5], [5, 6]),
  // a broadcast over b's batch: dA sums over it
  c('bcast_1x4x5_3x5x2', [1, 4, 5], [3, 5, 2]),
  c('bcast_both_2x1x3x4_3x4x2', [2, 1, 3, 4], [3, 4, 2]),
  // several tiles of 16 rows × 64 columns, none full at the edges
  c('tiles_64x96_96x80', [64, 96], [96, 80]),
];

export const matmulSpecs: OpSpec[] = [
  {
    id: 'matmul',
    inputs: ['a', 'b'],
    attributes: [],
    run: (inputs) => ({ out: E.matmul(input(inputs, 'a'), input(inputs, 'b')) }),
    reference: referenceOps.matmul,
    kernels: ['matmul'],
    cases,
    tol: {
      fwd: 1e-5,
      bwd: 2e-5,
      why:
        'each output is a float32 fma chain over L terms (L = K forward; N for dA, M·broadcast batches for dB): ' +
        'rounding error ~ sqrt(L)·u·Σ|terms| with u = 2^-24 ≈ 6e-8. For normal(0,1) inputs Σ|terms| ≈ 0.64·L while ' +
        'max|out| ≈ 3·sqrt(L), so error/max|ref| ≈ 0.2·L·u ≈ 1.2e-6 at L = 96 (the longest reduction here; measured ' +
        '≤ 4e-7, as PyTorch float32 in test/opcases/matmul.json). Forward 1e-5 leaves ~10× room; backward 2e-5 also ' +
        'covers the extra sum over broadcast batch dims (sumTo), a second rounding stage',
    },
  },
];
