// op: conv2d — conv2d, conv2dWeightGrad (engine/ops/conv.ts)
// Second pass of the conv2d weight gradient: adds the slices' partial sums in slice order
// (deterministic), writing dw [Cout, Cin/groups, kh, kw] and, with HAS_BIAS, db [Cout].
//!include conv_common
//!include index

@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

override HAS_BIAS: bool = false;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let wsize = u.cout * u.cin_g * u.kh * u.kw;
  if (i < wsize) {
    var s = 0.0;
    for (var k = 0u; k < u.splits; k++) { s += part[k * wsize + i]; }
    dw[i] = s;
  } else if (HAS_BIAS && i < wsize + u.cout) {
    let c = i - wsize;
    var s = 0.0;
    for (var k = 0u; k < u.splits; k++) { s += part[u.splits * wsize + k * u.cout + c]; }
    db[c] = s;
  }
}
