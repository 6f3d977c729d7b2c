// ops: add, sub, mul, div, maximum, minimum, pow — add, sub, mul, div, maximum, minimum, pow, equal, greater (engine/ops/elementwise.ts)
// out = f(a, b) elementwise with NumPy broadcasting: a and b are read through strides
// that are 0 on broadcast dims. SAME_SHAPE skips the index arithmetic.
//!include index

struct Params { n: u32, rank: u32, shape: Dims, a_strides: Dims, b_strides: Dims, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
override OP: u32 = 0u;
override SAME_SHAPE: bool = false;
const WG = 256u;
// A private variable, not a const: WGSL rejects NaN in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;

fn real_pow(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  let m = exp2(e * log2(abs(x)));
  if (x >= 0.0) { return m; } // 0^e: exp2(e·-inf) is 0 for e > 0, inf for e < 0
  if (fract(e) != 0.0) { return bitcast<f32>(NAN_BITS); }
  return select(m, -m, fract(e * 0.5) != 0.0);
}

fn apply(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    case 5u: { return min(x, y); }
    case 6u: { return real_pow(x, y); }
    case 7u: { return select(0.0, 1.0, x == y); }
    case 8u: { return select(0.0, 1.0, x > y); }
    // share of the gradient of max(x, y) that goes to x: ties split evenly
    case 9u: { return select(select(0.0, 0.5, x == y), 1.0, x > y); }
    // d(x^y)/dy = x^y ln x for x > 0; 0 at x = 0 with y ≥ 0 (as PyTorch); NaN otherwise
    case 10u: {
      if (x > 0.0) { return real_pow(x, y) * log(x); }
      return select(bitcast<f32>(NAN_BITS), 0.0, x == 0.0 && y >= 0.0);
    }
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  if (SAME_SHAPE) {
    out[i] = apply(a[i], b[i]);
  } else {
    out[i] = apply(a[strided_offset(i, u.rank, u.shape, u.a_strides)], b[strided_offset(i, u.rank, u.shape, u.b_strides)]);
  }
}
