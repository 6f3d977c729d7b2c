/** Shape arithmetic for the GPU ops (the reference keeps its own, to stay independent). */

export const MAX_RANK = 8;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** NumPy broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast (dim ${i}: ${da} vs ${db})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides that read a tensor of `shape` as if it had `outShape` (0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_d, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}

/** Normalises an axis (negative counts from the end); throws naming op and argument. */
/**
 * The same strided walk over fewer dimensions, for kernels that decode a flat index into
 * offsets (a division and a modulo per dimension and operand, costly per lane on lavapipe):
 * size-1 dimensions dropped, and each pair of neighbours merged where every operand steps
 * through them as through one dimension (stride[d] = shape[d+1]·stride[d+1]). Row-major
 * order is unchanged, so a flat index means the same element before and after. An all-ones
 * shape keeps one dimension.
 */
export function coalesceStrides(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const s: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const k = s.length - 1;
    if (k >= 0 && strides.every((v, j) => st[j][k] === shape[d] * v[d])) {
      s[k] *= shape[d];
      strides.forEach((v, j) => (st[j][k] = v[d]));
    } else {
      s.push(shape[d]);
      strides.forEach((v, j) => st[j].push(v[d]));
    }
  }
  if (s.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: s, strides: st };
}

export function normAxis(op: string, arg: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1))
    throw new Error(`${op}: ${arg} must be an integer in [${-rank}, ${rank - 1}], got ${axis}`);
  return axis < 0 ? axis + rank : axis;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
