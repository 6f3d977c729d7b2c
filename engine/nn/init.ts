/**
 * Parameter initialisers, seeded. A model draws one seed per parameter, in construction
 * order, from an InitSeeds stream: the same model seed gives the same weights everywhere.
 */
import { hash32 } from '../random.ts';
import { full, randNormal, randUniform } from '../ops/creation.ts';
import type { Tensor } from '../tensor.ts';

export class InitSeeds {
  private counter = 0;
  constructor(readonly seed: number) {}
  next(): number {
    return hash32(hash32(this.seed) ^ (0x85ebca6b + this.counter++));
  }
}

export type Initializer = (shape: readonly number[], seed: number) => Tensor;

export const normalInit =
  (std = 0.01, mean = 0): Initializer =>
  (shape, seed) =>
    randNormal(shape, seed, mean, std);

export const constantInit =
  (value: number): Initializer =>
  (shape) =>
    full(shape, value);

/** Bias for a sigmoid classifier whose initial probability is p (RetinaNet/GFL: 0.01). */
export const priorProbBiasInit = (p = 0.01): Initializer => constantInit(-Math.log((1 - p) / p));

/** fan_in / fan_out of a weight [out, in, kh, kw] (or [out, in]). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: shape[0] * receptive };
}

/** Kaiming normal for ReLU networks (torchvision's ResNet uses mode fan_out). */
export const kaimingNormalInit =
  (mode: 'fan_in' | 'fan_out' = 'fan_out'): Initializer =>
  (shape, seed) => {
    const { fanIn, fanOut } = fans(shape);
    return randNormal(shape, seed, 0, Math.sqrt(2 / (mode === 'fan_in' ? fanIn : fanOut)));
  };

/** Xavier/Glorot uniform (mmdetection's FPN convs). */
export const xavierUniformInit = (): Initializer => (shape, seed) => {
  const { fanIn, fanOut } = fans(shape);
  const a = Math.sqrt(6 / (fanIn + fanOut));
  return randUniform(shape, seed, -a, a);
};
