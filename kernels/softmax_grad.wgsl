// ops: softmax, log_softmax — softmax, logSoftmax (engine/ops/softmax.ts)
// Backward of softmax / log-softmax along a long axis, fused into one dispatch: one
// workgroup per row. Workgroup trees form the row's sums, then every invocation writes
// its strided share of dx. The formulas are those of softmax_grad_rows.wgsl:
//   softmax:      dx_i = y_i · ((g_i - g_m) + Σ_j y_j (g_m - g_j)), m = argmax y
//   log-softmax:  dx_i = g_i - exp(y_i) · Σ g
//!include softmax_common
//!include workgroup_reduce

@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(TREE_WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  let n = select(0u, u.len, r < u.rows); // rows past the end still reach the barriers
  let start = row_start(r);
  var acc = rowsum_init();
  if (LOG) {
    for (var k = lid.x; k < n; k += TREE_WG) { acc = rowsum_add(acc, g[start + k * u.inner]); }
    let total = tree_sum(rowsum_total(acc), lid.x);
    for (var k = lid.x; k < n; k += TREE_WG) {
      let at = start + k * u.inner;
      dx[at] = g[at] - exp(y[at]) * total;
    }
    return;
  }
  var best = F32_LOWEST;
  var best_k = 0u;
  for (var k = lid.x; k < n; k += TREE_WG) {
    let v = y[start + k * u.inner];
    if (v > best) { best = v; best_k = k; }
  }
  // clamped so that a row of NaNs (no comparison true) still names an element
  let m = min(tree_argmax(best, best_k, lid.x), n - 1u);
  var gm = 0.0;
  if (n > 0u) { gm = g[start + m * u.inner]; }
  for (var k = lid.x; k < n; k += TREE_WG) {
    let at = start + k * u.inner;
    acc = rowsum_add(acc, y[at] * (gm - g[at]));
  }
  let c = tree_sum(rowsum_total(acc), lid.x);
  for (var k = lid.x; k < n; k += TREE_WG) {
    let at = start + k * u.inner;
    dx[at] = y[at] * ((g[at] - gm) + c);
  }
}
