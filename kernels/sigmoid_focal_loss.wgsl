// op: sigmoid_focal_loss — sigmoidFocalLoss (engine/ops/losses.ts)
// Sigmoid focal loss (docs/crosskd.md §3) and its gradients in one pass, per element:
//   p = σ(x), pt = (1-p)·t + p·(1-t), w_α = α·t + (1-α)(1-t),
//   loss = w_α · pt^γ · BCE(x, t).
// grad_a = d loss/d logits, grad_b = d loss/d targets (only when the targets require
// grad), both times the element's weight. See loss_common.wgsl for the REDUCE layout.
//!include fused_loss

struct Params { n: u32, w_div: u32, alpha: f32, gamma: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
// one weight per w_div consecutive elements (a weight per prior spans its classes)
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_b: array<f32>;

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var acc = 0.0;
  for (var i = gid.x; i < u.n; i += nwg.x * LOSS_WG) {
    let x = logits[i];
    let t = targets[i];
    var w = 1.0;
    if (WEIGHTED) { w = weight[i / u.w_div]; }
    let s = sigmoid_pair(x);
    let bce = bce_logits(x, t, s.e);
    let wa = u.alpha * t + (1.0 - u.alpha) * (1.0 - t);
    let pt = s.q * t + s.p * (1.0 - t);
    let ptg = pow_nonneg(pt, u.gamma);
    let loss = wa * ptg * bce;
    if (REDUCE) { acc += w * loss; } else { out[i] = w * loss; }
    if (GRAD_A || GRAD_B) {
      let dptg = pow_nonneg_grad(pt, u.gamma);
      // dpt/dx = p·q·(1 - 2t), dBCE/dx = p - t
      if (GRAD_A) { grad_a[i] = w * wa * (dptg * s.p * s.q * (1.0 - 2.0 * t) * bce + ptg * (s.p - t)); }
      // dw_α/dt = 2α - 1, dpt/dt = q - p, dBCE/dt = -x
      if (GRAD_B) {
        grad_b[i] = w * ((2.0 * u.alpha - 1.0) * ptg * bce + wa * dptg * (s.q - s.p) * bce - wa * ptg * x);
      }
    }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
