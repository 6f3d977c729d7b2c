// Short reductions (at most 64 elements per output): one invocation per output,
// Kahan-compensated, so no workgroup barrier is paid.
//!include reduce_common

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_index(gid, nwg, WG);
  if (o >= u.n_out) { return; }
  let base = output_base(o);
  var acc = acc_init();
  for (var r = 0u; r < u.n_red; r++) { acc = acc_add(acc, input_at(base, r)); }
  out[o] = finish(acc.sum);
}
