// ops: softmax, log_softmax — softmax, logSoftmax (engine/ops/softmax.ts)
// Softmax / log-softmax along a long axis (len > 1024): one workgroup per row. Each
// invocation covers a strided share of the row; two workgroup trees combine the shares
// (max, then Σ exp(x - max)); then every invocation writes its share. Same stable forms
// as softmax_rows.wgsl.
//!include softmax_common
//!include workgroup_reduce

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(TREE_WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  // grid() may launch a few workgroups past the last row: they see an empty row but
  // still reach every barrier.
  let n = select(0u, u.len, r < u.rows);
  let start = row_start(r);
  var m = F32_LOWEST;
  for (var k = lid.x; k < n; k += TREE_WG) { m = max(m, x[start + k * u.inner]); }
  m = tree_max(m, lid.x);
  var acc = rowsum_init();
  for (var k = lid.x; k < n; k += TREE_WG) { acc = rowsum_add(acc, exp(x[start + k * u.inner] - m)); }
  let s = tree_sum(rowsum_total(acc), lid.x);
  let log_s = log(s);
  for (var k = lid.x; k < n; k += TREE_WG) {
    let at = start + k * u.inner;
    let z = x[at] - m;
    out[at] = select(exp(z) / s, z - log_s, LOG);
  }
}
