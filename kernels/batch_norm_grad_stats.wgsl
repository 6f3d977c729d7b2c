// op: batch_norm — batchNorm (engine/ops/norm.ts)
// batch_norm backward (engine/ops/norm.ts: batchNorm), per-channel sums: one workgroup per
// channel computes Σ g and Σ g·x̂ over its N·S values, with x̂ = ((x − shift) − d̄)·rstd
// from the forward's stats and g masked by out > 0 when the ReLU was fused. They are dβ
// and dγ, and (divided by N·S) the two means that training mode's dx subtracts. Blocked
// per-lane sums, lanes added in order: deterministic (lib/norm_common).
//!include norm_common

struct Params { batch: u32, channels: u32, spatial: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
// the forward output, read for the ReLU mask only (any buffer is bound without RELU)
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbias: array<f32>;
override RELU: bool = false;

var<workgroup> lane_sums: array<vec2<f32>, WG>;

fn load_x(j: u32) -> vec4<f32> {
  if (VEC4) { return x[j]; }
  return vec4<f32>(x[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
}

// the upstream gradient of unit j; relu'(0) = 0: it passes only where the output is > 0
fn load_g(j: u32) -> vec4<f32> {
  var g: vec4<f32>;
  var keep = vec4<bool>(true);
  if (VEC4) {
    g = grad[j];
    if (RELU) { keep = y[j] > vec4<f32>(0.0); }
  } else {
    g = vec4<f32>(grad[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
    if (RELU) { keep = vec4<bool>(y[j >> 2u][j & 3u] > 0.0); }
  }
  return select(vec4<f32>(0.0), g, keep);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gn_group(wid, nwg);
  if (c >= u.channels) { return; } // uniform: the whole workgroup leaves
  let lid = lid3.x;
  let st = stats[c];
  let units = select(u.spatial, u.spatial / 4u, VEC4); // per (n, c) plane
  var sg = sum4_zero();
  var sgx = sum4_zero();
  let total = u.batch * units;
  for (var t = lid; t < total; t += WG) {
    let n = t / units;
    let j = (n * u.channels + c) * units + (t - n * units);
    let g = load_g(j); // zero in masked components
    sg = sum4_add(sg, g);
    sgx = sum4_add(sgx, g * (((load_x(j) - st.x) - st.y) * st.z));
  }
  lane_sums[lid] = vec2<f32>(hsum(sum4_value(sg)), hsum(sum4_value(sgx)));
  workgroupBarrier();
  if (lid == 0u) {
    var s = vec2<f32>(0.0);
    for (var l = 0u; l < WG; l++) { s += lane_sums[l]; }
    dbias[c] = s.x;
    dweight[c] = s.y;
  }
}
