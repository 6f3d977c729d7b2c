/**
 * An OpSpec declares one op to the checking tools: how to run it on the GPU from named
 * tensors, its float64 reference, seeded gradcheck cases and its tolerance. The same
 * spec serves `npm run gradcheck`, `npm run parity` (by op id) and the vitest suites.
 */
import type { Rng } from '../random.ts';
import type { RefOp } from '../reference/types.ts';
import type { Tensor } from '../tensor.ts';

export type Attrs = Record<string, unknown>;

export interface InputGen {
  shape: number[];
  /** 'float' (default) or 'int' (labels, indices: uploaded as int32) */
  dtype?: 'float' | 'int';
  /** values: normal(0,1) by default; [lo, hi] for uniform; or a function of the rng */
  values?: [number, number] | ((rng: Rng, n: number) => Float64Array);
  /** whether the gradcheck differentiates this input (default: float inputs do) */
  grad?: boolean;
}

export interface GradcheckCase {
  name: string;
  attrs: Attrs;
  inputs: Record<string, InputGen>;
}

export interface Tolerance {
  /** max|gpu - ref| ≤ tol · max|ref| for outputs (fwd) and input gradients (bwd) */
  fwd: number;
  bwd: number;
  /** why this tolerance is fair for float32 */
  why: string;
}

export interface OpSpec {
  /** the op id used in parity files (test/opcases/README.md, docs/op-cases.md) */
  id: string;
  /** accepted input names; parity files and cases use these */
  inputs: string[];
  /** accepted attribute names (anything else is an error naming the case) */
  attributes: string[];
  /** outputs by name, computed on the GPU (records on the tape when inputs require grad) */
  run(inputs: Record<string, Tensor>, attrs: Attrs): Record<string, Tensor>;
  reference: RefOp;
  /**
   * The kernels written for this op (kernels/NAME.wgsl, forward and backward), each opening
   * with a line that names this op id; test/checks/kernels.test.ts checks both directions,
   * and that the op's cases dispatch every one of them.
   */
  kernels: string[];
  cases: GradcheckCase[];
  tol: Tolerance;
  /** inputs never differentiated (integer labels, detached teacher targets) */
  noGrad?: string[];
}
