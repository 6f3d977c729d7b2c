// ops: batch_norm, batch_norm_running_stats — batchNorm (engine/ops/norm.ts)
// batch_norm (engine/ops/norm.ts: batchNorm), normalisation: one invocation per unit (four
// floats when S is a multiple of 4, else one), y = ((x − shift) − d̄)·rstd·γ + β from the
// channel's stats (batch_norm_stats), then the fused ReLU if RELU.
//!include index

struct Params { units: u32, plane: u32, channels: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
override RELU: bool = false;
override VEC4: bool = false;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (j >= u.units) { return; }
  let c = (j / u.plane) % u.channels; // plane: units per (n, c)
  let st = stats[c];
  let sc = st.z * weight[c];
  if (VEC4) {
    var y = ((x[j] - st.x) - st.y) * sc + bias[c];
    if (RELU) { y = max(y, vec4<f32>(0.0)); }
    let i = 4u * j;
    out[i] = y.x;
    out[i + 1u] = y.y;
    out[i + 2u] = y.z;
    out[i + 3u] = y.w;
  } else {
    var y = ((x[j >> 2u][j & 3u] - st.x) - st.y) * sc + bias[c];
    if (RELU) { y = max(y, 0.0); }
    out[j] = y;
  }
}
