// op: kd_kl_div — kdKlDiv (engine/ops/losses.ts)
// Distribution KL of localization distillation (LD; CrossKD's GFL regression KD;
// docs/crosskd.md §3) and its gradient in one pass, one row (box side, m bins) per iteration:
//   q = softmax(z_s/T) (student), t = softmax(z_t/T) (teacher, detached),
//   loss = scale · Σ_j t_j (log t_j - log q_j),  scale = T² (bin sum) or T²/m (bin mean),
//   grad_a = d loss/d z_s = scale · (q - t) / T   (Σ t = 1).
// Terms with t_j = 0 add 0 (the 0·log 0 = 0 convention of kl_div): log t is computed as
// z_t/T - lse, always finite, and multiplied by t_j = 0.
//!include fused_loss

struct Params { n: u32, w_div: u32, bins: u32, inv_t: f32, scale: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> soft_label: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<f32>;
// the teacher gets no gradient; bound only because every loss kernel has two
@group(0) @binding(6) var<storage, read_write> grad_b: array<f32>;
// As in distribution_focal_loss.wgsl: BINS > 0 keeps both rows (scaled by 1/T) and their exps in
// registers (the last pass then needs no exp); BINS = 0 serves any m from memory.
override BINS: u32 = 0u;
var<private> row_s: array<f32, LOSS_ROW_MAX>;
var<private> row_t: array<f32, LOSS_ROW_MAX>;
var<private> exp_s: array<f32, LOSS_ROW_MAX>;
var<private> exp_t: array<f32, LOSS_ROW_MAX>;

fn zs_at(base: u32, j: u32) -> f32 {
  if (BINS > 0u) { return row_s[j]; }
  return pred[base + j] * u.inv_t;
}
fn zt_at(base: u32, j: u32) -> f32 {
  if (BINS > 0u) { return row_t[j]; }
  return soft_label[base + j] * u.inv_t;
}

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = select(u.bins, BINS, BINS > 0u);
  var acc = 0.0;
  for (var row = gid.x; row < u.n; row += nwg.x * LOSS_WG) {
    let base = row * m;
    var w = 1.0;
    if (WEIGHTED) { w = weight[row / u.w_div]; }
    if (BINS > 0u) {
      for (var j = 0u; j < BINS; j++) {
        row_s[j] = pred[base + j] * u.inv_t;
        row_t[j] = soft_label[base + j] * u.inv_t;
      }
    }
    var ms = zs_at(base, 0u);
    var mt = zt_at(base, 0u);
    for (var j = 1u; j < m; j++) {
      ms = max(ms, zs_at(base, j));
      mt = max(mt, zt_at(base, j));
    }
    var ss = 0.0;
    var st = 0.0;
    for (var j = 0u; j < m; j++) {
      let es = exp(zs_at(base, j) - ms);
      let et = exp(zt_at(base, j) - mt);
      if (BINS > 0u) {
        exp_s[j] = es;
        exp_t[j] = et;
      }
      ss += es;
      st += et;
    }
    let lse_s = ms + log(ss);
    let lse_t = mt + log(st);
    let inv_ss = 1.0 / ss;
    let inv_st = 1.0 / st;
    var kl = 0.0;
    let gs = w * u.scale * u.inv_t;
    for (var j = 0u; j < m; j++) {
      let lq = zs_at(base, j) - lse_s;
      let lt = zt_at(base, j) - lse_t;
      // q and t from the exps of the sum pass when they are in registers
      var q: f32;
      var t: f32;
      if (BINS > 0u) {
        q = exp_s[j] * inv_ss;
        t = exp_t[j] * inv_st;
      } else {
        q = exp(lq);
        t = exp(lt);
      }
      kl += t * (lt - lq);
      if (GRAD_A) { grad_a[base + j] = gs * (q - t); }
    }
    if (REDUCE) { acc += w * u.scale * kl; } else { out[row] = w * u.scale * kl; }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
