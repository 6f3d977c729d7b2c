// Long reductions: one workgroup per output. Each invocation accumulates a strided share
// (Kahan-compensated), then a workgroup tree combines the 256 partial results.
//!include reduce_common

const WG = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.x + wid.y * nwg.x;
  var acc = acc_init();
  if (o < u.n_out) {
    let base = output_base(o);
    for (var r = lid.x; r < u.n_red; r += WG) { acc = acc_add(acc, input_at(base, r)); }
  }
  partial[lid.x] = acc.sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      let other = partial[lid.x + s];
      partial[lid.x] = select(partial[lid.x] + other, max(partial[lid.x], other), OP == 1u);
    }
    workgroupBarrier();
  }
  if (lid.x == 0u && o < u.n_out) { out[o] = finish(partial[0]); }
}
