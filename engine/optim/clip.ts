/**
 * Gradient-norm clipping without a readback: the total norm and the factor
 * min(1, maxNorm / (norm + 1e-6)) stay on the GPU; the optimizer kernels read the factor.
 */
import { add, concat, div, minimum, mul, reshape, sqrt, sum } from '../ops/index.ts';
import { noGrad } from '../autograd.ts';
import { full } from '../ops/creation.ts';
import type { Tensor } from '../tensor.ts';

export interface ClipResult {
  /** total L2 norm of all gradients, shape [1] */
  norm: Tensor;
  /** factor to multiply every gradient by, shape [1] */
  factor: Tensor;
}

export function clipGradNorm(params: readonly Tensor[], maxNorm: number): ClipResult {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  return clipFactor(
    params.filter((p) => p.grad).map((p) => p.grad!),
    maxNorm,
  );
}

/** The total L2 norm of `grads` and the clipping factor (Optimizer.stepWithClipping reduces one packed arena). */
export function clipFactor(grads: readonly Tensor[], maxNorm: number): ClipResult {
  return noGrad(() => {
    const squares = grads.map((g) => reshape(sum(mul(g, g)), [1]));
    const total = squares.length === 0 ? full([1], 0) : squares.length === 1 ? squares[0] : sum(concat(squares, 0), 0, true);
    const norm = sqrt(total);
    const factor = minimum(full([1], 1), div(full([1], maxNorm), add(norm, 1e-6)));
    return { norm, factor };
  });
}
