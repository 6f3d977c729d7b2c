// ops: sum, mean, max — sum, mean, max (engine/ops/reduce.ts)
// Short reductions (at most 64 elements per output): one invocation per output, so no
// workgroup barrier is paid. Eight interleaved partial results are combined pairwise:
// the rounding error grows with R/8 + 3 additions instead of R.
//!include reduce_common

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_index(gid, nwg, WG);
  if (o >= u.n_out) { return; }
  let base = output_base(o);
  var lanes = array<f32, 8>(identity(), identity(), identity(), identity(), identity(), identity(), identity(), identity());
  for (var r = 0u; r < u.n_red; r++) { lanes[r % 8u] = combine(lanes[r % 8u], input_at(base, r)); }
  let a = combine(combine(lanes[0], lanes[1]), combine(lanes[2], lanes[3]));
  let b = combine(combine(lanes[4], lanes[5]), combine(lanes[6], lanes[7]));
  out[o] = finish(combine(a, b));
}
