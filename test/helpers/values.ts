/** Reading GPU tensors back and comparing them with expected values, for the GPU op tests. */
import { expect } from 'vitest';
import type { Tensor } from '../../engine/index.ts';

export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** |got − want| ≤ tol elementwise, with the index in the message. */
export function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): void {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= tol)) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]} (tol ${tol})`);
}
