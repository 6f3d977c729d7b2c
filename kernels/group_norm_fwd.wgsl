// Group norm forward: statistics per (n, group), then normalise, affine and optional ReLU.
// One workgroup per (n, group); layout, units and sums are described in lib/group_norm_common.
//
// Statistics are two-pass on shifted data: shift = the group's first element, so x − shift
// is exact (Sterbenz) whenever the data sit within a factor 2 of each other, and the mean
// of the deviations, d̄ = mean(x − shift), is a small number held to full relative precision.
// Pass 2 sums ((x − shift) − d̄)², with no cancellation. With mean 1000 and std 0.01, a mean
// rounded to float32 alone would be off by up to half an ulp of 1000 (3e-5, 0.3% of std);
// kept as shift + d̄ it is not. The backward gets (shift, d̄, rstd) per group in `stats`.
//!include group_norm_common

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
  let mask = unit_mask();

  var acc = sum4_zero();
  for (var k = 0u; k < u.rounds; k++) {
    let cl = k * tm.teams + tm.index;
    if (cl >= u.cpg) { break; }
    let cb = base + cl * units;
    for (var r = tm.lane; r < units; r += tm.size) { acc = sum4_add(acc, (load_x(cb + r) - shift) * mask); }
  }
  let mean_d = gn_workgroup_sum(lid, vec2<f32>(hsum(sum4_value(acc)), 0.0)).x / f32(m);

  acc = sum4_zero();
  for (var k = 0u; k < u.rounds; k++) {
    let cl = k * tm.teams + tm.index;
    if (cl >= u.cpg) { break; }
    let cb = base + cl * units;
    for (var r = tm.lane; r < units; r += tm.size) {
      let d = ((load_x(cb + r) - shift) - mean_d) * mask;
      acc = sum4_add(acc, d * d);
    }
  }
  // biased variance, as PyTorch; 1/sqrt rather than inverseSqrt, whose accuracy is looser
  let rstd = 1.0 / sqrt(gn_workgroup_sum(lid, vec2<f32>(hsum(sum4_value(acc)), 0.0)).x / f32(m) + u.eps);
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
