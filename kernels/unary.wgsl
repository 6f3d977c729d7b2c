// ops: neg, exp, log, sqrt, abs, sigmoid, relu, clamp — neg, exp, log, sqrt, abs, sigmoid, relu, clamp, affine, scale, copy, powScalar (engine/ops/elementwise.ts)
// out = f(x) elementwise; OP picks f (see engine/ops/elementwise.ts), a and b are its
// scalar parameters (clamp bounds, affine coefficients, a scalar exponent).
//!include index

struct Params { n: u32, a: f32, b: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
override OP: u32 = 0u;
const WG = 256u;
// A private variable, not a const: WGSL rejects NaN in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;

// x^e for any real x: defined for x < 0 when e is an integer (sign from its parity),
// NaN otherwise; WGSL's pow() is undefined for x < 0, so it is never called there.
fn real_pow(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  let m = exp2(e * log2(abs(x)));
  if (x >= 0.0) { return m; } // 0^e: exp2(e·-inf) is 0 for e > 0, inf for e < 0
  if (fract(e) != 0.0) { return bitcast<f32>(NAN_BITS); }
  let odd = fract(e * 0.5) != 0.0;
  return select(m, -m, odd);
}

fn sigmoid(v: f32) -> f32 {
  // stable for large |v|: exp of a non-positive number only
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

fn apply(v: f32) -> f32 {
  switch OP {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return sqrt(v); }
    case 4u: { return abs(v); }
    case 5u: { return sigmoid(v); }
    case 6u: { return max(v, 0.0); }
    case 7u: { return min(max(v, u.a), u.b); }
    case 8u: { return v; }
    case 9u: { return select(0.0, 1.0, v > 0.0); }
    case 10u: { return select(0.0, 1.0, v >= u.a && v <= u.b); }
    case 11u: { return sign(v); }
    case 12u: { return u.a * v + u.b; }
    case 13u: { return real_pow(v, u.a); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  out[i] = apply(x[i]);
}
