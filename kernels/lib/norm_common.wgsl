// Shared by the group-norm (group_norm_fwd, group_norm_bwd) and batch-norm statistics
// kernels (batch_norm_stats, batch_norm_grad_stats).
//
// Group norm: one workgroup owns one (n, group): its cpg·S elements are contiguous, and on a CPU
// driver a workgroup runs on one thread, so every pass after the first reads them from
// cache. Inside the workgroup, invocations work in teams of T = 2^t_shift lanes (T = WG
// when a channel has at least WG units, fewer for small spatial sizes): each team owns
// one channel per round and strides over its units, so a channel's γ and β are loaded
// once and the lanes of a team read consecutive addresses.
//
// A unit is 4 floats (VEC4, when S is a multiple of 4) or 1 float held in .x of a vec4
// whose other components are masked to zero. Lavapipe pays per memory instruction more
// than per byte, and a vec4 load moves four floats for the price of one. Inputs are bound
// as array<vec4<f32>> (a scalar unit reads one component); outputs as array<f32>, so no
// two lanes ever store into the same vec4 (vec4 stores measured no faster).
//
// WG = 8, one SIMD vector of lavapipe's 256-bit code: a barrier then costs a fraction of
// what it costs with 64 lanes (which run as 8 coroutines switched at every barrier). On
// [8,64,32,32] the backward ran about 2× faster with 8 lanes than with 64, and 4 was slower.
//
// Reductions are deterministic: each lane reduces its own units in a fixed order, then
// lane 0 combines the lanes' partials in lane order after a barrier, never a log2(WG)
// tree. A lane may see thousands of units, so its sums are blocked: runs of at most CHUNK
// terms, whose sums are added to a running total, keep the rounding error near
// (CHUNK + n/CHUNK)·u instead of n·u. (Kahan compensation does nothing here: lavapipe's
// compiler folds the correction term to zero, measured.)

const WG = 8u;
override VEC4: bool = false;

const CHUNK = 32u;

// A blocked sum of vec4 terms (four independent sums, one per component).
struct Sum4 { total: vec4<f32>, block: vec4<f32>, count: u32, }

fn sum4_zero() -> Sum4 {
  return Sum4(vec4<f32>(0.0), vec4<f32>(0.0), 0u);
}

fn sum4_add(a: Sum4, v: vec4<f32>) -> Sum4 {
  var r = Sum4(a.total, a.block + v, a.count + 1u);
  if (r.count == CHUNK) { r = Sum4(r.total + r.block, vec4<f32>(0.0), 0u); }
  return r;
}

fn sum4_value(a: Sum4) -> vec4<f32> {
  return a.total + a.block;
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// Moments of up to four streams (the components of a unit) with a common count.
struct Moments { n: f32, mean: vec4<f32>, m2: vec4<f32>, }

fn moments_zero() -> Moments {
  return Moments(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
}

// Welford: one more value of each stream.
fn moments_push(a: Moments, v: vec4<f32>) -> Moments {
  let n = a.n + 1.0;
  let d = v - a.mean;
  let mean = a.mean + d * (1.0 / n);
  return Moments(n, mean, a.m2 + d * (v - mean));
}

// Chan et al.: the moments of the union of two sets from the moments of each.
fn moments_merge(a: Moments, b: Moments) -> Moments {
  if (b.n == 0.0) { return a; }
  let n = a.n + b.n;
  let delta = b.mean - a.mean;
  let f = b.n / n;
  return Moments(n, a.mean + delta * f, a.m2 + b.m2 + delta * delta * (a.n * f));
}

// (count, mean, M2) of all the components of `lm` (the first `comps` of each lane's
// moments) merged in lane order, then component order: deterministic.
fn moments_total(g0: vec3<f32>, lm: Moments, comps: u32) -> vec3<f32> {
  var g = g0;
  for (var c = 0u; c < comps; c++) {
    if (lm.n == 0.0) { continue; }
    let n = g.x + lm.n;
    let delta = lm.mean[c] - g.y;
    let f = lm.n / n;
    g = vec3<f32>(n, g.y + delta * f, g.z + lm.m2[c] + delta * delta * (g.x * f));
  }
  return g;
}

// The workgroup index of a launch folded by grid() (uniform across the workgroup).
fn gn_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// A lane's place in the team mapping: channel `index + k·teams` of the group in round k,
// units lane, lane + size, … of that channel.
struct Team { size: u32, lane: u32, index: u32, teams: u32, }

fn gn_team(lid: u32, t_shift: u32) -> Team {
  return Team(1u << t_shift, lid & ((1u << t_shift) - 1u), lid >> t_shift, WG >> t_shift);
}
