// Quality focal loss (GFL; CROSSKD.md §3) and its gradients in one pass, one row (prior)
// per loop iteration:
//   every class c:           BCE(x_c, 0)·σ(x_c)^β
//   the positive's own class: BCE(x_l, s)·|s - σ(x_l)|^β      (label l in [0, C), score s)
// summed over the C classes; label C is background (all classes negative).
// grad_a = d loss/d pred [N,C]; grad_b = d loss/d score [N] (only when the score requires
// grad: mmdetection passes it detached). A label outside [0, C] makes the row's loss and
// gradients NaN (its weight is NaN): the GPU cannot raise an error, the loss shows it.
//!include loss_common

struct Params { n: u32, w_div: u32, classes: u32, beta: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> label: array<i32>;
@group(0) @binding(3) var<storage, read> score: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_b: array<f32>;
override REDUCE: bool = false;
override WEIGHTED: bool = false;
override GRAD_A: bool = false;
override GRAD_B: bool = false;

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let C = u.classes;
  let beta = u.beta;
  var acc = 0.0;
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let lab = label[row];
    var w = 1.0;
    if (WEIGHTED) { w = weight[row / u.w_div]; }
    if (lab < 0 || lab > i32(C)) { w = loss_nan(); }
    let base = row * C;
    // Every class as a negative first: the same arithmetic on every lane, no branch on
    // the label inside the loop. The positive class is skipped in the sum and its
    // gradient rewritten below.
    var loss = 0.0;
    for (var c = 0u; c < C; c++) {
      let x = pred[base + c];
      let s = sigmoid_pair(x);
      let sp = softplus_e(x, s.e);
      let pb = pow_nonneg(s.p, beta);
      loss += select(sp * pb, 0.0, i32(c) == lab);
      // d/dx [softplus(x)·p^β] = p·p^β + softplus(x)·β·p^β·q   (dp/dx = p·q)
      if (GRAD_A) { grad_a[base + c] = w * pb * (s.p + beta * s.q * sp); }
    }
    var gs = 0.0;
    if (lab >= 0 && lab < i32(C)) {
      let i = base + u32(lab);
      let x = pred[i];
      let sc = score[row];
      let s = sigmoid_pair(x);
      let bce = bce_logits(x, sc, s.e);
      let diff = sc - s.p;
      let f = pow_nonneg(abs(diff), beta);
      let df = pow_nonneg_grad(abs(diff), beta) * sign(diff); // d f / d diff
      loss += bce * f;
      // dBCE/dx = p - s, d diff/dx = -p·q, dBCE/ds = -x, d diff/ds = 1
      if (GRAD_A) { grad_a[i] = w * ((s.p - sc) * f - bce * df * s.p * s.q); }
      gs = -x * f + bce * df;
    }
    if (REDUCE) { acc += w * loss; } else { out[row] = w * loss; }
    if (GRAD_B) { grad_b[row] = w * gs; }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
