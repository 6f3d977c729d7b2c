// op: group_norm — groupNorm (engine/ops/norm.ts)
// Group norm backward, one workgroup per (n, group), with x̂ = ((x − shift) − d̄)·rstd from
// the forward's stats and ĝ = g·γ (g masked by out > 0 when the ReLU was fused):
//   dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))   over the group.
// Per-channel sums Σ_hw g and Σ_hw g·x̂ come first (they are dβ and dγ for this n, written
// to psums for group_norm_param_grad); the group means are their γ-weighted sums, so one
// pass over the data serves both. Then a second pass (from cache) writes dx.
//
// Groups of two elements get their own closed form. There x̂₂ = −x̂₁ and the formula is
// rstd·(ĝ₁ − ĝ₂)/2·(1 − x̂₁²), with 1 − x̂₁² = eps·rstd²: evaluated as written, a difference
// of two terms that agree to eps/var (1e-5 for unit variance) and so loses most digits in
// float32. (ĝ₁ − ĝ₂)/2·eps·rstd³ keeps them all.
//!include norm_common

struct Params {
  n_groups: u32, groups: u32, cpg: u32, spatial: u32, t_shift: u32, rounds: u32, eps: f32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
// the forward output, read for the ReLU mask only (any buffer is bound without RELU)
@group(0) @binding(4) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
// [N·C] (Σ_hw g, Σ_hw g·x̂) per (n, channel)
@group(0) @binding(7) var<storage, read_write> psums: array<vec2<f32>>;
override RELU: bool = false;

// Per-lane partial sums of each round, for batches of up to RB rounds, double-buffered by
// batch: one barrier per batch (not per round). Batch b + 2 reuses batch b's half, which is
// safe: its writes come after the barrier of batch b + 1, which lane 0 reaches only once
// it has finished reading batch b.
const RB = 16u;
var<workgroup> lane_parts: array<array<vec2<f32>, WG>, 2u * RB>;
var<workgroup> group_means: vec2<f32>;

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

fn store_dx(j: u32, v: vec4<f32>) {
  if (VEC4) {
    let i = 4u * j;
    dx[i] = v.x;
    dx[i + 1u] = v.y;
    dx[i + 2u] = v.z;
    dx[i + 3u] = v.w;
  } else {
    dx[j] = v.x;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gn_group(wid, nwg);
  if (o >= u.n_groups) { return; } // uniform: the whole workgroup leaves
  let lid = lid3.x;
  let tm = gn_team(lid, u.t_shift);
  let m = u.cpg * u.spatial;
  let units = select(u.spatial, u.spatial / 4u, VEC4); // per channel
  let base = o * u.cpg * units;
  let st = stats[o];
  let shift = st.x;
  let mean_d = st.y;
  let rstd = st.z;
  let ch0 = (o % u.groups) * u.cpg;
  let pbase = (o / u.groups) * u.groups * u.cpg + ch0; // psums index of (n, ch0)

  // Per-channel Σg and Σg·x̂: each lane sums its share of its team's channel, round by
  // round; after each batch lane 0 adds up each team's lanes, writes the per-channel sums
  // and accumulates their γ-weighted totals for the group means.
  var sums = vec2<f32>(0.0);
  let batches = (u.rounds + RB - 1u) / RB;
  for (var bt = 0u; bt < batches; bt++) { // uniform bound: the barrier needs every lane
    let par = (bt & 1u) * RB;
    for (var kk = 0u; kk < RB; kk++) {
      let cl = (bt * RB + kk) * tm.teams + tm.index;
      if (bt * RB + kk >= u.rounds) { break; }
      var sg = sum4_zero();
      var sgx = sum4_zero();
      if (cl < u.cpg) {
        let cb = base + cl * units;
        for (var r = tm.lane; r < units; r += tm.size) {
          let g = load_g(cb + r); // zero in masked components
          sg = sum4_add(sg, g);
          sgx = sum4_add(sgx, g * (((load_x(cb + r) - shift) - mean_d) * rstd));
        }
      }
      lane_parts[par + kk][lid] = vec2<f32>(hsum(sum4_value(sg)), hsum(sum4_value(sgx)));
    }
    workgroupBarrier();
    if (lid == 0u) {
      for (var kk = 0u; kk < RB; kk++) {
        if (bt * RB + kk >= u.rounds) { break; }
        for (var t = 0u; t < tm.teams; t++) {
          let cl = (bt * RB + kk) * tm.teams + t;
          if (cl >= u.cpg) { break; }
          var c = vec2<f32>(0.0);
          for (var j = 0u; j < tm.size; j++) { c += lane_parts[par + kk][t * tm.size + j]; }
          psums[pbase + cl] = c;
          sums += weight[ch0 + cl] * c;
        }
      }
    }
  }
  if (lid == 0u) { group_means = sums / f32(m); } // (mean ĝ, mean ĝ·x̂)
  workgroupBarrier();
  let means = group_means;

  if (m == 2u) {
    if (lid == 0u) {
      let i = o * 2u;
      let g0 = load_g(i).x * weight[ch0];
      let g1 = load_g(i + 1u).x * weight[ch0 + 1u / u.spatial];
      let d = (g0 - g1) * 0.5 * (u.eps * rstd * rstd) * rstd;
      dx[i] = d;
      dx[i + 1u] = -d;
    }
    return;
  }

  for (var k = 0u; k < u.rounds; k++) {
    let cl = k * tm.teams + tm.index;
    if (cl >= u.cpg) { break; }
    let cb = base + cl * units;
    let gamma = weight[ch0 + cl];
    for (var r = tm.lane; r < units; r += tm.size) {
      let xh = ((load_x(cb + r) - shift) - mean_d) * rstd;
      store_dx(cb + r, rstd * ((load_g(cb + r) * gamma - means.x) - xh * means.y));
    }
  }
}
