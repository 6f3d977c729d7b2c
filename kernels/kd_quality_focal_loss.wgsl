// op: kd_quality_focal_loss — kdQualityFocalLoss (engine/ops/losses.ts)
// KD quality focal loss (CrossKD's classification distillation; docs/crosskd.md §3) and its
// gradients in one pass, one row (prior) per loop iteration:
//   element (n, c): BCE(x, t)·|σ(x) - t|^β, t = the teacher's probability (soft_target)
// ROW_SUM: the loss element is the row's sum over classes ([N]); else each element ([N,C]).
// grad_a = d loss/d pred; grad_b = d loss/d soft_target (only when the target requires
// grad: CrossKD detaches it).
//!include fused_loss

struct Params { n: u32, w_div: u32, classes: u32, beta: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> soft_target: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_b: array<f32>;
override ROW_SUM: bool = true;

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let C = u.classes;
  let beta = u.beta;
  var acc = 0.0;
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let base = row * C;
    var w = 1.0;
    if (WEIGHTED && ROW_SUM) { w = weight[row / u.w_div]; }
    var row_loss = 0.0;
    for (var c = 0u; c < C; c++) {
      let i = base + c;
      if (WEIGHTED && !ROW_SUM) { w = weight[i / u.w_div]; }
      let x = pred[i];
      let t = soft_target[i];
      let s = sigmoid_pair(x);
      let bce = bce_logits(x, t, s.e);
      let diff = s.p - t;
      let f = pow_nonneg(abs(diff), beta);
      let loss = bce * f;
      if (ROW_SUM) {
        row_loss += loss;
      } else if (REDUCE) {
        acc += w * loss;
      } else {
        out[i] = w * loss;
      }
      if (GRAD_A || GRAD_B) {
        let df = pow_nonneg_grad(abs(diff), beta) * sign(diff); // d f / d diff
        // dBCE/dx = p - t, d diff/dx = p·q;  dBCE/dt = -x, d diff/dt = -1
        if (GRAD_A) { grad_a[i] = w * ((s.p - t) * f + bce * df * s.p * s.q); }
        if (GRAD_B) { grad_b[i] = w * (-x * f - bce * df); }
      }
    }
    if (ROW_SUM) {
      if (REDUCE) { acc += w * row_loss; } else { out[row] = w * row_loss; }
    }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
