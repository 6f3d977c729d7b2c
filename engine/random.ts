/**
 * Counter-based random numbers: value i of stream `seed` is a pure function of (seed, i).
 * The GPU kernel kernels/random.wgsl computes the same function, so a seeded tensor has
 * the same values (to float32 rounding of log/cos) whether made on the CPU or the GPU,
 * and any element can be checked alone.
 */

/** A 32-bit integer hash (the "lowbias32" finaliser), applied to seed and counter. */
export function hash32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform in [0, 1) with 24 random bits (exactly representable in float32). */
export function uniformAt(seed: number, i: number): number {
  const h = hash32(hash32(seed ^ 0x9e3779b9) ^ i);
  return (h >>> 8) / 16777216;
}

/** Standard normal by Box–Muller on two uniforms of the stream (2i and 2i+1). */
export function normalAt(seed: number, i: number): number {
  const u1 = uniformAt(seed, 2 * i);
  const u2 = uniformAt(seed, 2 * i + 1);
  const r = Math.sqrt(-2 * Math.log(1 - u1)); // 1 - u1 is in (0, 1]: log is finite
  return r * Math.cos(2 * Math.PI * u2);
}

/** A seeded generator of float64 arrays for tests and data, rounded to float32 values. */
export class Rng {
  private counter = 0;
  constructor(readonly seed: number) {}
  uniform(n: number, low = 0, high = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.fround(low + (high - low) * uniformAt(this.seed, this.counter++));
    return out;
  }
  normal(n: number, mean = 0, std = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.fround(mean + std * normalAt(this.seed, this.counter++));
    return out;
  }
  /** Integers in [low, high). */
  int(n: number, low: number, high: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = low + Math.floor((high - low) * uniformAt(this.seed, this.counter++));
    return out;
  }
}
