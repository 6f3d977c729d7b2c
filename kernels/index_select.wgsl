// op: index_select — indexSelect (engine/ops/gather.ts)
// out[o, k, i] = x[o, index[k], i]: x viewed as (outer, len, inner) around the selected
// axis, out as (outer, K, inner). One invocation per output element.
// An index outside [0, len) cannot be reported from the GPU, so it writes NaN: the error
// shows in every value computed from it rather than passing as a plausible number.
//!include index

struct Params { n: u32, len: u32, k: u32, inner: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
const WG = 256u;
// A private variable, not a const: WGSL rejects NaN in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (j >= u.n) { return; }
  let i = j % u.inner;
  let t = j / u.inner;
  let k = t % u.k;
  let o = t / u.k;
  let d = index[k];
  if (d < 0 || u32(d) >= u.len) {
    out[j] = bitcast<f32>(NAN_BITS);
    return;
  }
  out[j] = x[(o * u.len + u32(d)) * u.inner + i];
}
