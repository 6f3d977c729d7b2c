// op: group_norm — groupNorm (engine/ops/norm.ts)
// Group norm dγ and dβ: per channel, the sum over the batch of the per-(n, channel) sums
// that group_norm_bwd wrote. Serial over n in a fixed order: deterministic, and a batch
// is a few dozen terms at most (error ≤ N·u). Launched only when γ or β requires grad.
//!include index

struct Params { batch: u32, channels: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> psums: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dbias: array<f32>;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat_index(gid, nwg, WG);
  if (c >= u.channels) { return; }
  var s = vec2<f32>(0.0);
  for (var n = 0u; n < u.batch; n++) { s += psums[n * u.channels + c]; }
  dbias[c] = s.x;
  dweight[c] = s.y;
}
