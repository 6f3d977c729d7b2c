/** Small helpers shared by the op files: argument checks and launch sizes. */
import { grid } from '../runtime.ts';
import { fmt, MAX_RANK } from '../shape.ts';
import type { DType, Tensor } from '../tensor.ts';

export const ELEMENTWISE_WG = 256;

/** Workgroups for one invocation per element, folded to respect 65535 per dimension. */
export function elementwiseGroups(n: number): [number, number] {
  return grid(Math.ceil(n / ELEMENTWISE_WG));
}

export function expectDtype(op: string, arg: string, t: Tensor, ...dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype)) throw new Error(`${op}: ${arg} must have dtype ${dtypes.join(' or ')}, got ${t.dtype} (${t})`);
}

export function expectRank(op: string, arg: string, t: Tensor, rank: number): void {
  if (t.rank !== rank) throw new Error(`${op}: ${arg} must have rank ${rank}, got shape ${fmt(t.shape)}`);
}

export function expectMaxRank(op: string, arg: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) throw new Error(`${op}: ${arg} has rank ${shape.length}; at most ${MAX_RANK} dims are supported`);
}

export function expectInt(op: string, arg: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new Error(`${op}: ${arg} must be an integer${min > -Infinity ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
  return v;
}
