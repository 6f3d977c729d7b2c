// ops: sum, mean, max — sum, mean, max (engine/ops/reduce.ts)
// Long reductions: one workgroup per (output, chunk of the reduced range). Each
// invocation adds a strided share of its chunk (at most chunk_len / 256 terms), then a
// workgroup tree combines the 256 partial results. With several chunks the results are
// partial sums that a second pass over [n_out, n_chunks] combines (engine/ops/reduce.ts).
//!include reduce_common

const WG = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.x + wid.y * nwg.x;
  let o = g / u.n_chunks;
  let c = g % u.n_chunks;
  var acc = identity();
  if (o < u.n_out) {
    let base = output_base(o);
    let end = min(u.n_red, (c + 1u) * u.chunk_len);
    for (var r = c * u.chunk_len + lid.x; r < end; r += WG) { acc = combine(acc, input_at(base, r)); }
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) { partial[lid.x] = combine(partial[lid.x], partial[lid.x + s]); }
    workgroupBarrier();
  }
  if (lid.x == 0u && o < u.n_out) { out[g] = finish(partial[0]); }
}
