/**
 * The float64 CPU reference: the oracle every GPU op is tested against.
 * Tensors are plain row-major Float64Arrays; integer inputs (labels, indices) are
 * stored as float64 values too and read with Math.trunc where needed.
 */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

export type RefAttrs = Record<string, unknown>;

/**
 * One reference op. `forward` computes every output; `vjp` returns, for every
 * input, d/dinput of sum_o sum_i upstream[o][i] * outputs[o][i] (null: not
 * differentiable, e.g. integer labels). Both work in float64 throughout.
 */
export interface RefOp {
  forward(inputs: Record<string, RefTensor>, attrs: RefAttrs): Record<string, RefTensor>;
  vjp(inputs: Record<string, RefTensor>, attrs: RefAttrs, upstream: Record<string, RefTensor>): Record<string, RefTensor | null>;
}
