// op: integral — integral (engine/ops/boxes.ts)
// Integral of GFL (docs/crosskd.md §5): the expected bin of a softmax over m = reg_max + 1
// bin logits, out[n] = Σ_j softmax(z)_j · j, a distance in stride units. One row per loop
// iteration; with GRAD_A the same pass writes d out/d z_k = p_k·(k - out), which the op
// saves and scales by the upstream gradient in its backward (kernels/loss_grad.wgsl).
//!include loss_common

struct Params { n: u32, bins: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_a: array<f32>;
override GRAD_A: bool = false;
// As in distribution_focal_loss.wgsl: BINS > 0 keeps the row's exps in registers; 0 serves any m.
override BINS: u32 = 0u;
var<private> row_e: array<f32, LOSS_ROW_MAX>;

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = select(u.bins, BINS, BINS > 0u);
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let base = row * m;
    var mx = pred[base];
    for (var j = 1u; j < m; j++) { mx = max(mx, pred[base + j]); }
    var se = 0.0;
    var sj = 0.0;
    for (var j = 0u; j < m; j++) {
      let e = exp(pred[base + j] - mx);
      if (BINS > 0u) { row_e[j] = e; }
      se += e;
      sj += e * f32(j);
    }
    let inv = 1.0 / se;
    let expect = sj * inv;
    out[row] = expect;
    if (GRAD_A) {
      for (var j = 0u; j < m; j++) {
        var e: f32;
        if (BINS > 0u) { e = row_e[j]; } else { e = exp(pred[base + j] - mx); }
        grad_a[base + j] = e * inv * (f32(j) - expect);
      }
    }
  }
}
