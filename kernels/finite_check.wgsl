// used by: anomaly mode (engine/anomaly.ts)
// Anomaly mode (engine/anomaly.ts): flags an op output holding NaN or ±Inf.
// Each check carries code = 0xffffffff − 2·slot; a hit stores code − kind (kind 0 NaN,
// 1 Inf) with atomicMax, so the flag ends up naming the lowest slot — the first op in
// stream order — and NaN before Inf within it. 0 means every checked output was finite.
// Values are read as bits: a compiler may assume floats are finite and fold x != x away.
//!include index

struct Params { n: u32, code: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;
const WG = 256u;
const EXPONENT = 0x7f800000u;
const MANTISSA = 0x007fffffu;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * nwg.y * WG;
  var kind = 2u; // 2: finite so far
  for (var i = flat_index(gid, nwg, WG); i < u.n; i += stride) {
    let bits = x[i];
    if ((bits & EXPONENT) == EXPONENT) {
      kind = min(kind, select(1u, 0u, (bits & MANTISSA) != 0u));
    }
  }
  if (kind < 2u) {
    atomicMax(&flag[0], u.code - kind);
  }
}
