/** Array comparison shared by the gradcheck and the parity runner. */

export interface Diff {
  /** max|got − ref| (NaN when either side has a NaN) */
  maxAbs: number;
  /** max|ref| */
  maxRef: number;
  /** maxAbs / maxRef; 0 when both are 0, Infinity when only ref is all zeros, NaN on NaN */
  rel: number;
}

/** max|got − ref| against max|ref|. The arrays must have the same length. */
export function diff(got: ArrayLike<number>, ref: ArrayLike<number>): Diff {
  if (got.length !== ref.length) throw new Error(`diff: ${got.length} values against ${ref.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    // NaN must not vanish in a comparison: keep it
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(maxAbs) ? maxAbs : d;
    const r = Math.abs(ref[i]);
    if (!(r <= maxRef)) maxRef = Number.isNaN(maxRef) ? maxRef : r;
  }
  const rel = Number.isNaN(maxAbs) || Number.isNaN(maxRef) ? NaN : maxAbs === 0 ? 0 : maxAbs / maxRef;
  return { maxAbs, maxRef, rel };
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

/** A short number for tables and messages: 3 significant digits, '-' for undefined. */
export function fmtNum(v: number | undefined | null): string {
  if (v === undefined || v === null) return '-';
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'inf';
  if (v === 0) return '0';
  return v.toExponential(2);
}
