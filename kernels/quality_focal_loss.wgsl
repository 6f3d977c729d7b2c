// op: quality_focal_loss — qualityFocalLoss (engine/ops/losses.ts)
// Quality focal loss (GFL; docs/crosskd.md §3) and its gradients in one pass, one row (prior)
// per loop iteration:
//   every class c:           BCE(x_c, 0)·σ(x_c)^β
//   the positive's own class: BCE(x_l, s)·|s - σ(x_l)|^β      (label l in [0, C), score s)
// summed over the C classes; label C is background (all classes negative).
// grad_a = d loss/d pred [N,C]; grad_b = d loss/d score [N] (only when the score requires
// grad: mmdetection passes it detached). A label outside [0, C] makes the row's loss and
// gradients NaN (its weight is NaN): the GPU cannot raise an error, the loss shows it.
//
// VEC4 (C a multiple of 4, e.g. 80 classes): rows are whole vec4s, read and written four
// classes at a time through grad_a4 (about 1.3× faster on lavapipe, whose stores go lane
// by lane); grad_a is then a placeholder. Otherwise scalars through grad_a. pred is always
// viewed as vec4s (a scalar is pred4[i / 4][i % 4]), which keeps the kernel at 8 storage
// buffers, WebGPU's default limit per stage.
//!include fused_loss

struct Params { n: u32, w_div: u32, classes: u32, beta: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> label: array<i32>;
@group(0) @binding(3) var<storage, read> score: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_a4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> grad_b: array<f32>;
override VEC4: bool = false;

fn pred_at(i: u32) -> f32 {
  return pred4[i / 4u][i % 4u];
}

// One class as a negative: BCE(x, 0)·p^β and its gradient
// d/dx [softplus(x)·p^β] = p·p^β + softplus(x)·β·p^β·q   (dp/dx = p·q).
struct Term { loss: f32, grad: f32, }
fn negative(x: f32, beta: f32) -> Term {
  let s = sigmoid_pair(x);
  let sp = softplus_e(x, s.e);
  let pb = pow_nonneg(s.p, beta);
  return Term(sp * pb, pb * (s.p + beta * s.q * sp));
}

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
    // the label inside the loop. The positive class is left out of the sum and its
    // gradient rewritten below.
    var loss = 0.0;
    if (VEC4) {
      for (var c4 = 0u; c4 < C / 4u; c4++) {
        let x4 = pred4[base / 4u + c4];
        var g4: vec4<f32>;
        for (var k = 0u; k < 4u; k++) {
          let t = negative(x4[k], beta);
          loss += select(t.loss, 0.0, i32(4u * c4 + k) == lab);
          g4[k] = w * t.grad;
        }
        if (GRAD_A) { grad_a4[base / 4u + c4] = g4; }
      }
    } else {
      for (var c = 0u; c < C; c++) {
        let t = negative(pred_at(base + c), beta);
        loss += select(t.loss, 0.0, i32(c) == lab);
        if (GRAD_A) { grad_a[base + c] = w * t.grad; }
      }
    }
    var gs = 0.0;
    if (lab >= 0 && lab < i32(C)) {
      let i = base + u32(lab);
      let x = pred_at(i);
      let sc = score[row];
      let s = sigmoid_pair(x);
      let bce = bce_logits(x, sc, s.e);
      let diff = sc - s.p;
      let f = pow_nonneg(abs(diff), beta);
      let df = pow_nonneg_grad(abs(diff), beta) * sign(diff); // d f / d diff
      loss += bce * f;
      // dBCE/dx = p - s, d diff/dx = -p·q, dBCE/ds = -x, d diff/ds = 1
      let gx = w * ((s.p - sc) * f - bce * df * s.p * s.q);
      if (GRAD_A) {
        if (VEC4) {
          // the vec4 lies inside this row (C % 4 == 0): no other invocation touches it
          var g4 = grad_a4[i / 4u];
          g4[i % 4u] = gx;
          grad_a4[i / 4u] = g4;
        } else {
          grad_a[i] = gx;
        }
      }
      gs = -x * f + bce * df;
    }
    if (REDUCE) { acc += w * loss; } else { out[row] = w * loss; }
    if (GRAD_B) { grad_b[row] = w * gs; }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
