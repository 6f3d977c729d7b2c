// Deterministic elementary functions for the synthetic data generator.
//
// ECMAScript pins +, -, *, / and Math.sqrt to IEEE-754 correctly rounded results, but not
// Math.sin, Math.cos, Math.exp, Math.log or Math.pow: engines may differ in the last bit.
// A one-ulp difference moves a rotated shape's edge by ~1e-16 px, which is enough to flip
// a supersample that lies on the edge and so change a byte of an image. The generator
// promises the same bytes for a seed on every machine and in every browser, so it uses
// these polynomial versions, built from the pinned operations only. Accuracy is ~1e-15
// relative, far below anything visible; what matters is that the result is the same
// everywhere.

const HALF_PI = 1.5707963267948966;
const LN2 = Math.LN2;

/** sin(r) for |r| ≤ π/4: Taylor series to r^15 (truncation error < 1e-15). */
function sinKernel(r: number): number {
  const r2 = r * r;
  return (
    r * (1 + r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 * (1 / 362880 + r2 * (-1 / 39916800 + r2 * (1 / 6227020800 + r2 * (-1 / 1307674368000))))))))
  );
}

/** cos(r) for |r| ≤ π/4: Taylor series to r^14. */
function cosKernel(r: number): number {
  const r2 = r * r;
  return 1 + r2 * (-1 / 2 + r2 * (1 / 24 + r2 * (-1 / 720 + r2 * (1 / 40320 + r2 * (-1 / 3628800 + r2 * (1 / 479001600 + r2 * (-1 / 87178291200)))))));
}

/**
 * [sin x, cos x]. The argument is reduced by multiples of π/2 (fine for the angles the
 * generator uses, |x| < 100; no Payne–Hanek reduction for huge arguments).
 */
export function sincos(x: number): [number, number] {
  const k = Math.round(x / HALF_PI);
  const r = x - k * HALF_PI;
  const s = sinKernel(r);
  const c = cosKernel(r);
  switch (((k % 4) + 4) % 4) {
    case 0:
      return [s, c];
    case 1:
      return [c, -s];
    case 2:
      return [-s, -c];
    default:
      return [-c, s];
  }
}

export function dsin(x: number): number {
  return sincos(x)[0];
}

export function dcos(x: number): number {
  return sincos(x)[1];
}

/** 2^n for an integer n, by exact doublings / halvings (no Math.pow). */
function pow2(n: number): number {
  let out = 1;
  for (let i = 0; i < n; i++) out *= 2;
  for (let i = 0; i > n; i--) out *= 0.5;
  return out;
}

/** e^x: x = n·ln 2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r^17. */
export function dexp(x: number): number {
  if (!Number.isFinite(x)) throw new Error(`dexp: non-finite argument ${x}`);
  const n = Math.round(x / LN2);
  const r = x - n * LN2;
  let term = 1;
  let sum = 1;
  for (let i = 1; i <= 17; i++) {
    term = (term * r) / i;
    sum += term;
  }
  return sum * pow2(n);
}

/** ln x for x > 0: x = m·2^e with m in [√½, √2), ln m = 2·atanh((m-1)/(m+1)) by its series. */
export function dlog(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`dlog: argument must be positive and finite, got ${x}`);
  let m = x;
  let e = 0;
  while (m >= 2) {
    m *= 0.5;
    e++;
  }
  while (m < 1) {
    m *= 2;
    e--;
  }
  if (m > Math.SQRT2) {
    m *= 0.5;
    e++;
  }
  const z = (m - 1) / (m + 1); // |z| ≤ 0.172: z^23/23 < 1e-18
  const z2 = z * z;
  let term = z;
  let sum = 0;
  for (let k = 1; k <= 23; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return 2 * sum + e * LN2;
}
