// op: distribution_focal_loss — distributionFocalLoss (engine/ops/losses.ts)
// Distribution focal loss (GFL; docs/crosskd.md §3) and its gradients in one pass, one row
// (one box side: m = reg_max + 1 bin logits z) per loop iteration:
//   y_l = floor(y), y_r = y_l + 1,
//   loss = CE(z, y_l)·(y_r - y) + CE(z, y_r)·(y - y_l),   CE(z, k) = lse(z) - z_k.
// grad_a = d loss/d z = softmax(z) - (y_r - y)·[j = y_l] - (y - y_l)·[j = y_r];
// grad_b = d loss/d y = CE(z, y_r) - CE(z, y_l) = z_l - z_r (only when y requires grad).
// The target must lie in [0, reg_max) so that y_r is a bin (bbox2distance clamps to
// [0, reg_max - 0.1]); outside, or NaN, the row's loss and gradients are NaN.
//!include fused_loss

struct Params { n: u32, w_div: u32, bins: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> dist_target: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_b: array<f32>;
// BINS > 0: the bin count as a pipeline constant (m ≤ LOSS_ROW_MAX): the row loops unroll,
// the row and its exps stay in registers and memory is read once (on lavapipe ~1.6×
// faster than re-reading). BINS = 0: any m, read from u.bins, rows re-read from memory.
override BINS: u32 = 0u;
var<private> row_z: array<f32, LOSS_ROW_MAX>;
var<private> row_e: array<f32, LOSS_ROW_MAX>;

fn z_at(base: u32, j: u32) -> f32 {
  if (BINS > 0u) { return row_z[j]; }
  return pred[base + j];
}

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = select(u.bins, BINS, BINS > 0u);
  var acc = 0.0;
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let base = row * m;
    let y = dist_target[row];
    var w = 1.0;
    if (WEIGHTED) { w = weight[row / u.w_div]; }
    let ok = y >= 0.0 && y < f32(m - 1u); // false for NaN too
    if (!ok) { w = loss_nan(); }
    let yl = u32(clamp(floor(select(0.0, y, ok)), 0.0, f32(m - 2u)));
    let wl = f32(yl + 1u) - y;
    let wr = y - f32(yl);
    if (BINS > 0u) {
      for (var j = 0u; j < BINS; j++) { row_z[j] = pred[base + j]; }
    }
    // log-sum-exp with the row max subtracted: finite for logits of any size
    var mx = z_at(base, 0u);
    for (var j = 1u; j < m; j++) { mx = max(mx, z_at(base, j)); }
    var se = 0.0;
    for (var j = 0u; j < m; j++) {
      let e = exp(z_at(base, j) - mx);
      if (BINS > 0u) { row_e[j] = e; }
      se += e;
    }
    let lse = mx + log(se);
    // from memory: a computed index into row_z would push the whole row out of registers
    let zl = pred[base + yl];
    let zr = pred[base + yl + 1u];
    let loss = (lse - zl) * wl + (lse - zr) * wr;
    if (REDUCE) { acc += w * loss; } else { out[row] = w * loss; }
    if (GRAD_A) {
      let inv_se = 1.0 / se;
      for (var j = 0u; j < m; j++) {
        var gj: f32;
        if (BINS > 0u) { gj = row_e[j] * inv_se; } else { gj = exp(pred[base + j] - lse); }
        if (j == yl) { gj -= wl; }
        if (j == yl + 1u) { gj -= wr; }
        grad_a[base + j] = w * gj;
      }
    }
    if (GRAD_B) { grad_b[row] = w * (zl - zr); }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
