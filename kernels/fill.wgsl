// used by: full, zeros, ones, randUniform, randNormal (engine/ops/creation.ts)
// out[i] = value, or a seeded random stream: MODE 0 constant, 1 uniform [lo, hi), 2 normal(lo, hi)
// The hash matches engine/random.ts, so GPU and CPU draw the same numbers.
//!include index

struct Params { n: u32, seed: u32, offset: u32, lo: f32, hi: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
override MODE: u32 = 0u;
const WG = 256u;

fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn uniform_at(seed: u32, i: u32) -> f32 {
  let h = hash32(hash32(seed ^ 0x9e3779b9u) ^ i);
  return f32(h >> 8u) / 16777216.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  let k = u.offset + i;
  if (MODE == 0u) {
    out[i] = u.lo;
  } else if (MODE == 1u) {
    out[i] = u.lo + (u.hi - u.lo) * uniform_at(u.seed, k);
  } else {
    let u1 = uniform_at(u.seed, 2u * k);
    let u2 = uniform_at(u.seed, 2u * k + 1u);
    let r = sqrt(-2.0 * log(1.0 - u1));
    out[i] = u.lo + u.hi * r * cos(6.283185307179586 * u2);
  }
}
