/** Tensors made on the GPU: constants and seeded random streams (kernels/fill.wgsl). */
import { runtime } from '../runtime.ts';
import { empty, type Tensor } from '../tensor.ts';
import { elementwiseGroups } from './util.ts';

function fill(op: string, shape: readonly number[], mode: number, lo: number, hi: number, seed = 0, offset = 0): Tensor {
  const out = empty(shape);
  if (out.size > 0)
    runtime().dispatch({
      op,
      kernel: 'fill',
      constants: { MODE: mode },
      uniforms: { n: out.size, seed: seed >>> 0, offset, lo, hi },
      buffers: { out: out.buffer },
      workgroups: elementwiseGroups(out.size),
    });
  // Created values are what the caller asked for (a -Inf mask is fine): anomaly mode
  // only closes the op here, it does not check the output.
  runtime().opDone(op, []);
  return out;
}

export const full = (shape: readonly number[], value: number): Tensor => fill('full', shape, 0, value, 0);
export const zeros = (shape: readonly number[]): Tensor => full(shape, 0);
export const ones = (shape: readonly number[]): Tensor => full(shape, 1);
export const zerosLike = (t: Tensor): Tensor => zeros(t.shape);
export const onesLike = (t: Tensor): Tensor => ones(t.shape);

function checkSeed(op: string, seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`${op}: seed must be an integer in [0, 2^32), got ${seed}`);
}

/** Uniform in [low, high), element i equal to engine/random.ts uniformAt(seed, i). */
export function randUniform(shape: readonly number[], seed: number, low = 0, high = 1): Tensor {
  checkSeed('randUniform', seed);
  return fill('randUniform', shape, 1, low, high, seed);
}

/** Normal(mean, std), element i equal to engine/random.ts normalAt(seed, i) (to float32 rounding). */
export function randNormal(shape: readonly number[], seed: number, mean = 0, std = 1): Tensor {
  checkSeed('randNormal', seed);
  return fill('randNormal', shape, 2, mean, std, seed);
}
