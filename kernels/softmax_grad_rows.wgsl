// ops: softmax, log_softmax — softmax, logSoftmax (engine/ops/softmax.ts)
// Backward of softmax / log-softmax along a short axis, fused into one dispatch: one
// invocation per row, from the upstream gradient g and the forward output y.
//   softmax:      dx = y · (g - Σ g·y), evaluated as y_i · ((g_i - g_m) + Σ_j y_j (g_m - g_j))
//                 with m the row's argmax of y: the same value (Σ y = 1), but when y is
//                 nearly one-hot (large logit gaps) g_m - Σ g·y would cancel to rounding
//                 noise, while here dx_m = y_m · Σ_{j≠m} y_j (g_m - g_j) has no cancellation.
//   log-softmax:  dx = g - exp(y) · Σ g      (exp(y) is the softmax; y ≤ 0 so it is ≤ 1)
//!include softmax_common

@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= u.rows) { return; }
  let start = row_start(r);
  var acc = rowsum_init();
  if (LOG) {
    for (var k = 0u; k < u.len; k++) { acc = rowsum_add(acc, g[start + k * u.inner]); }
    for (var k = 0u; k < u.len; k++) {
      let at = start + k * u.inner;
      dx[at] = g[at] - exp(y[at]) * rowsum_total(acc);
    }
    return;
  }
  var m = 0u;
  for (var k = 1u; k < u.len; k++) {
    if (y[start + k * u.inner] > y[start + m * u.inner]) { m = k; }
  }
  let gm = g[start + m * u.inner];
  for (var k = 0u; k < u.len; k++) {
    let at = start + k * u.inner;
    acc = rowsum_add(acc, y[at] * (gm - g[at]));
  }
  for (var k = 0u; k < u.len; k++) {
    let at = start + k * u.inner;
    dx[at] = y[at] * ((g[at] - gm) + rowsum_total(acc));
  }
}
