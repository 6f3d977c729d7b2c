// Distribution KL of localization distillation (LD; CrossKD's GFL regression KD;
// CROSSKD.md §3) and its gradient in one pass, one row (box side, m bins) per iteration:
//   q = softmax(z_s/T) (student), t = softmax(z_t/T) (teacher, detached),
//   loss = scale · Σ_j t_j (log t_j - log q_j),  scale = T² (bin sum) or T²/m (bin mean),
//   grad_a = d loss/d z_s = scale · (q - t) / T   (Σ t = 1).
// Terms with t_j = 0 add 0 (the 0·log 0 = 0 convention of kl_div): log t is computed as
// z_t/T - lse, always finite, and multiplied by t_j = 0.
//!include loss_common

struct Params { n: u32, w_div: u32, bins: u32, inv_t: f32, scale: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> soft_label: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<f32>;
// the teacher gets no gradient; bound only because every loss kernel has two
@group(0) @binding(6) var<storage, read_write> grad_b: array<f32>;
override REDUCE: bool = false;
override WEIGHTED: bool = false;
override GRAD_A: bool = false;
override GRAD_B: bool = false;

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = u.bins;
  let it = u.inv_t;
  var acc = 0.0;
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let base = row * m;
    var w = 1.0;
    if (WEIGHTED) { w = weight[row / u.w_div]; }
    var ms = pred[base] * it;
    var mt = soft_label[base] * it;
    for (var j = 1u; j < m; j++) {
      ms = max(ms, pred[base + j] * it);
      mt = max(mt, soft_label[base + j] * it);
    }
    var ss = 0.0;
    var st = 0.0;
    for (var j = 0u; j < m; j++) {
      ss += exp(pred[base + j] * it - ms);
      st += exp(soft_label[base + j] * it - mt);
    }
    let lse_s = ms + log(ss);
    let lse_t = mt + log(st);
    var kl = 0.0;
    for (var j = 0u; j < m; j++) {
      let lq = pred[base + j] * it - lse_s;
      let lt = soft_label[base + j] * it - lse_t;
      let t = exp(lt);
      kl += t * (lt - lq);
      if (GRAD_A) { grad_a[base + j] = w * u.scale * it * (exp(lq) - t); }
    }
    if (REDUCE) { acc += w * u.scale * kl; } else { out[row] = w * u.scale * kl; }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
