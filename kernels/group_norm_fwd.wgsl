// op: group_norm — groupNorm (engine/ops/norm.ts)
// Group norm forward: statistics per (n, group), then normalise, affine and optional ReLU.
// One workgroup per (n, group); layout and units are described in lib/norm_common.
//
// Statistics are computed on shifted data, d = x − shift with shift = the group's first
// element: x − shift is one rounding of the deviation itself (exact, by Sterbenz, when the
// data lie within a factor 2 of each other), so the mean of the deviations, d̄, is a small
// number held to full relative precision. With mean 1000 and std 0.01, a mean rounded to
// float32 alone would be off by up to half an ulp of 1000 (3e-5, 0.3% of std); kept as
// shift + d̄ it is not, and the backward gets (shift, d̄, rstd) per group in `stats`.
//
// Each lane keeps Welford moments (count, mean, M2) of its deviations per vec4 component,
// over chunks of CHUNK units merged into its running moments with Chan's formula; lane 0
// then merges the lanes' moments in lane order (deterministic). Welford and Chan never
// subtract two large sums, so a group of two elements or with mean ≫ std is as accurate
// as any; and one pass over x (not two) is 0.3 ms of 1.6 on the benchmark shape.
//!include norm_common

struct Params {
  n_groups: u32, groups: u32, cpg: u32, spatial: u32, t_shift: u32, rounds: u32, eps: f32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<f32>>;
override RELU: bool = false;

var<workgroup> lane_moments: array<Moments, WG>;
var<workgroup> group_stats: vec2<f32>;

fn load_x(j: u32) -> vec4<f32> {
  if (VEC4) { return x[j]; }
  return vec4<f32>(x[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
}

fn store_out(j: u32, v: vec4<f32>) {
  if (VEC4) {
    let i = 4u * j;
    out[i] = v.x;
    out[i + 1u] = v.y;
    out[i + 2u] = v.z;
    out[i + 3u] = v.w;
  } else {
    out[j] = v.x;
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
  let shift = x[(o * m) >> 2u][(o * m) & 3u];

  // One pass over x: Welford per lane and component, chunk by chunk (masked components of
  // scalar units stay at zero and are skipped in the merge below).
  var tot = moments_zero();
  var chk = moments_zero();
  for (var k = 0u; k < u.rounds; k++) {
    let cl = k * tm.teams + tm.index;
    if (cl >= u.cpg) { break; }
    let cb = base + cl * units;
    for (var r = tm.lane; r < units; r += tm.size) {
      chk = moments_push(chk, load_x(cb + r) - shift);
      if (chk.n == f32(CHUNK)) {
        tot = moments_merge(tot, chk);
        chk = moments_zero();
      }
    }
  }
  tot = moments_merge(tot, chk);
  lane_moments[lid] = tot;
  workgroupBarrier();
  if (lid == 0u) {
    var g = vec3<f32>(0.0); // (count, mean, M2) of the group's deviations
    for (var l = 0u; l < WG; l++) { g = moments_total(g, lane_moments[l], select(1u, 4u, VEC4)); }
    group_stats = vec2<f32>(g.y, g.z / f32(m));
  }
  workgroupBarrier();
  let mean_d = group_stats.x;
  // biased variance, as PyTorch; 1/sqrt rather than inverseSqrt, whose accuracy is looser
  let rstd = 1.0 / sqrt(group_stats.y + u.eps);
  if (lid == 0u) { stats[o] = vec4<f32>(shift, mean_d, rstd, 0.0); }

  let ch0 = (o % u.groups) * u.cpg;
  for (var k = 0u; k < u.rounds; k++) {
    let cl = k * tm.teams + tm.index;
    if (cl >= u.cpg) { break; }
    let cb = base + cl * units;
    let sc = rstd * weight[ch0 + cl];
    let b = bias[ch0 + cl];
    for (var r = tm.lane; r < units; r += tm.size) {
      let y = ((load_x(cb + r) - shift) - mean_d) * sc + b;
      store_out(cb + r, select(y, max(y, vec4<f32>(0.0)), RELU));
    }
  }
}
