// ops: batch_norm, batch_norm_running_stats — batchNorm (engine/ops/norm.ts)
// batch_norm (engine/ops/norm.ts: batchNorm), statistics: one workgroup per channel.
//
// Training: the channel's N·S values (N runs of S, C·S apart) are reduced as group norm's
// are (lib/norm_common): shifted by the channel's first value, Welford per lane and
// component in chunks, lanes merged in order. `stats[c]` = (shift, mean of x − shift,
// rstd) for batch_norm_fwd and the backward. With UPDATE_RUNNING the running statistics
// move toward the batch's, PyTorch's rule: running ← (1 − momentum)·running +
// momentum·batch, with the unbiased variance (M/(M − 1) times the biased one), and the
// batch counter (PyTorch's num_batches_tracked) goes up by one.
// EVAL: the running statistics are the statistics; `stats[c]` = (mean, 0, rstd).
//!include norm_common

struct Params { batch: u32, channels: u32, spatial: u32, momentum: f32, eps: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(4) var<storage, read_write> num_batches: array<i32>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<f32>>;
override EVAL: bool = false;
override UPDATE_RUNNING: bool = false;

var<workgroup> lane_moments: array<Moments, WG>;

fn load_x(j: u32) -> vec4<f32> {
  if (VEC4) { return x[j]; }
  return vec4<f32>(x[j >> 2u][j & 3u], 0.0, 0.0, 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gn_group(wid, nwg);
  if (c >= u.channels) { return; } // uniform: the whole workgroup leaves
  let lid = lid3.x;
  if (EVAL) {
    // 1/sqrt rather than inverseSqrt, whose accuracy is looser
    if (lid == 0u) { stats[c] = vec4<f32>(running_mean[c], 0.0, 1.0 / sqrt(running_var[c] + u.eps), 0.0); }
    return;
  }
  let units = select(u.spatial, u.spatial / 4u, VEC4); // per (n, c) plane
  let shift = x[(c * u.spatial) >> 2u][(c * u.spatial) & 3u];
  var tot = moments_zero();
  var chk = moments_zero();
  let total = u.batch * units;
  for (var t = lid; t < total; t += WG) {
    let n = t / units;
    chk = moments_push(chk, load_x((n * u.channels + c) * units + (t - n * units)) - shift);
    if (chk.n == f32(CHUNK)) {
      tot = moments_merge(tot, chk);
      chk = moments_zero();
    }
  }
  lane_moments[lid] = moments_merge(tot, chk);
  workgroupBarrier();
  if (lid == 0u) {
    var g = vec3<f32>(0.0); // (count, mean, M2) of the channel's deviations
    for (var l = 0u; l < WG; l++) { g = moments_total(g, lane_moments[l], select(1u, 4u, VEC4)); }
    let m = f32(u.batch * u.spatial);
    let variance = g.z / m; // biased, as PyTorch normalises with
    stats[c] = vec4<f32>(shift, g.y, 1.0 / sqrt(variance + u.eps), 0.0);
    if (UPDATE_RUNNING) {
      let k = u.momentum;
      running_mean[c] = (1.0 - k) * running_mean[c] + k * (shift + g.y);
      running_var[c] = (1.0 - k) * running_var[c] + k * (g.z / (m - 1.0));
      if (c == 0u) { num_batches[0] += 1; }
    }
  }
}
