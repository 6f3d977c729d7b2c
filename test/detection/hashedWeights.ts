/**
 * "Hashed" weights: each value a function of its tensor's key and flat index, the same
 * function as scripts/gen_mmdet_fixture.py's `hashed`, so a 32M-value state_dict that
 * PyTorch ran can be rebuilt here instead of stored. fnv-1a of the key, mixed with the
 * index by murmur3's finaliser, then scaled per kind of tensor; every step is exact
 * integer arithmetic or one correctly rounded IEEE operation, as in Python.
 */
import type { PthTensor } from '../../engine/io/pth.ts';

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** The float32 values of tensor `key` of `shape`. */
export function hashedValues(key: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const h = fnv1a(key);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = fmix32((h ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0) / 2 ** 32;
    const s = 2 * u - 1;
    let v: number;
    if (key.endsWith('running_var')) v = 0.5 + u;
    else if (key.endsWith('running_mean')) v = 0.2 * s;
    else if (shape.length === 4) v = s * Math.sqrt(6 / fanIn);
    else if (key.endsWith('gfl_cls.bias')) v = -2 + 0.1 * s;
    else if (key.endsWith('bias')) v = 0.1 * s;
    else v = 1 + 0.2 * s;
    out[i] = v;
  }
  return out;
}

/** A state_dict of hashed values for the (key, shape, dtype) entries of keys.json. */
export function hashedStateDict(entries: readonly [string, number[], string][], prefix = ''): Map<string, PthTensor> {
  const out = new Map<string, PthTensor>();
  for (const [key, shape, dtype] of entries) {
    if (key.endsWith('num_batches_tracked')) out.set(prefix + key, { dtype: 'int64', shape, data: BigInt64Array.from([1000n]) });
    else if (key.endsWith('integral.project')) out.set(prefix + key, { dtype: 'float32', shape, data: Float32Array.from({ length: shape[0] }, (_, i) => i) });
    else if (dtype !== 'float32') throw new Error(`hashedStateDict: '${key}' has dtype ${dtype}`);
    else out.set(prefix + key, { dtype: 'float32', shape, data: hashedValues(key, shape) });
  }
  return out;
}
