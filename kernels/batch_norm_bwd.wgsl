// op: batch_norm — batchNorm (engine/ops/norm.ts)
// batch_norm backward (engine/ops/norm.ts: batchNorm), dx: one invocation per unit, with
// ĝ = g·γ (g masked by out > 0 when the ReLU was fused) and the channel's sums Σg, Σg·x̂
// from batch_norm_grad_stats (M = N·S values a channel):
//   training: dx = rstd·(ĝ − γ·Σg/M − x̂·γ·Σg·x̂/M);   EVAL: dx = rstd·ĝ (constant statistics).
// A channel of two values (M = 2) has x̂₂ = −x̂₁ and 1 − x̂² = eps·rstd², so the training
// formula is rstd·γ·(g − Σg/2)·eps·rstd²: written so, it keeps the digits that the general
// form loses to cancellation (as group_norm_bwd's two-element closed form).
//!include index

struct Params { units: u32, plane: u32, channels: u32, count: f32, eps: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
// the forward output, read for the ReLU mask only (any buffer is bound without RELU)
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<vec4<f32>>;
// Σg and Σg·x̂ per channel (dβ and dγ); not read in EVAL mode
@group(0) @binding(6) var<storage, read> sum_g: array<f32>;
@group(0) @binding(7) var<storage, read> sum_gx: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
override RELU: bool = false;
override VEC4: bool = false;
override EVAL: bool = false;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (j >= u.units) { return; }
  let c = (j / u.plane) % u.channels; // plane: units per (n, c)
  let st = stats[c];
  let gamma = weight[c];
  var g: vec4<f32>;
  var xv: vec4<f32>;
  var keep = vec4<bool>(true);
  if (VEC4) {
    g = grad[j];
    xv = x[j];
    if (RELU) { keep = y[j] > vec4<f32>(0.0); }
  } else {
    g = vec4<f32>(grad[j >> 2u][j & 3u]);
    xv = vec4<f32>(x[j >> 2u][j & 3u]);
    if (RELU) { keep = vec4<bool>(y[j >> 2u][j & 3u] > 0.0); }
  }
  g = select(vec4<f32>(0.0), g, keep);
  var d: vec4<f32>;
  if (EVAL) {
    d = st.z * gamma * g;
  } else if (u.count == 2.0) {
    d = (st.z * gamma) * (g - 0.5 * sum_g[c]) * (u.eps * st.z * st.z);
  } else {
    let xh = ((xv - st.x) - st.y) * st.z;
    d = st.z * ((g * gamma - gamma * sum_g[c] / u.count) - xh * (gamma * sum_gx[c] / u.count));
  }
  if (VEC4) {
    let i = 4u * j;
    dx[i] = d.x;
    dx[i + 1u] = d.y;
    dx[i + 2u] = d.z;
    dx[i + 3u] = d.w;
  } else {
    dx[j] = d.x;
  }
}
