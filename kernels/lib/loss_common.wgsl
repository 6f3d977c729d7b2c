// Shared by the fused loss kernels (kernels/<op id>.wgsl of engine/ops/losses.ts, through
// fused_loss.wgsl, their binding contract) and integral.wgsl: stable
// scalar math for docs/crosskd.md §3, and the reduction scaffolding every loss kernel uses.
//
// Scaffolding: a loss kernel walks its work units (elements, rows or box pairs) with a
// grid-stride loop over a launch of a few hundred workgroups (engine/ops/losses.ts), so
// any size fits one 1-D launch; on lavapipe the loop also beats one invocation per unit
// by 2–3×. With REDUCE it adds each unit's (weighted) loss to a per-invocation sum and
// leaves it in out[global index] (see "reduction" below); otherwise it writes each unit's
// loss to `out`. Gradients are written beside the loss in the same pass.

const LOSS_WG = 256u;
// Longest row the row kernels (DFL, KL, Integral) keep in registers; see their BINS.
const LOSS_ROW_MAX = 32u;

// Private variables, not constants: WGSL rejects NaN and inf in constant expressions.
var<private> LOSS_NAN_BITS: u32 = 0x7fc00000u;
var<private> LOSS_INF_BITS: u32 = 0x7f800000u;

fn loss_nan() -> f32 { return bitcast<f32>(LOSS_NAN_BITS); }
fn loss_inf() -> f32 { return bitcast<f32>(LOSS_INF_BITS); }

// σ(x) and σ(-x) = 1 - σ(x), each computed without subtracting from 1 (at x = 30 the
// subtraction would leave no digits of σ(-x)), plus e = exp(-|x|) for log1p_unit().
struct Sig { p: f32, q: f32, e: f32, }

fn sigmoid_pair(x: f32) -> Sig {
  let e = exp(-abs(x)); // never overflows
  let r = 1.0 / (1.0 + e);
  let er = e * r;
  return Sig(select(er, r, x >= 0.0), select(r, er, x >= 0.0), e);
}

// log(1 + v) for v in [0, 1], to a few ulp relative. WGSL has no log1p, and log(1 + v)
// loses v's digits as v → 0 (its log is only 2^-21 absolute near 1). Instead
// log(1 + v) = 2·atanh(s), s = v/(2 + v) ∈ [0, 1/3], and the series
// 2s·(1 + s²/3 + s⁴/5 + ...) cut after s¹⁴/15 leaves < (1/9)^8/17 ≈ 1.4e-9 relative.
fn log1p_unit(v: f32) -> f32 {
  let s = v / (2.0 + v);
  let z = s * s;
  let tail = 1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0 + z * (1.0 / 13.0 + z * (1.0 / 15.0))))));
  return 2.0 * s * (1.0 + z * tail);
}

// BCE with logits in docs/crosskd.md's stable form, e = exp(-|x|) from sigmoid_pair():
// (max(x, 0) - x·t) + log1p(e). The bracket first: at x = 30, t = 1 it is exactly 0 and
// the tiny log term survives.
fn bce_logits(x: f32, t: f32, e: f32) -> f32 {
  return (max(x, 0.0) - x * t) + log1p_unit(e);
}

// log(1 + exp(x)) = BCE(x, 0).
fn softplus_e(x: f32, e: f32) -> f32 {
  return max(x, 0.0) + log1p_unit(e);
}

// b^k for b ≥ 0 (WGSL's pow is undefined for negative bases and imprecise as exp2·log2):
// the usual exponents 1 and 2 are exact products, 0^k is 0 for k > 0 and b^0 = 1.
fn pow_nonneg(b: f32, k: f32) -> f32 {
  if (k == 1.0) { return b; }
  if (k == 2.0) { return b * b; }
  if (k == 0.0) { return 1.0; }
  if (b <= 0.0) { return 0.0; }
  return exp2(k * log2(b));
}

// d(b^k)/db for b ≥ 0, with torch's values at b = 0: 0 for k > 1, 1 for k = 1, inf for
// 0 < k < 1, and 0 for k = 0.
fn pow_nonneg_grad(b: f32, k: f32) -> f32 {
  if (k == 0.0) { return 0.0; }
  if (k == 1.0) { return 1.0; }
  if (k == 2.0) { return 2.0 * b; }
  if (b <= 0.0) { return select(0.0, loss_inf(), k < 1.0); }
  return k * exp2((k - 1.0) * log2(b));
}

// ------------------------------------------------------------------ reduction

// With REDUCE, each invocation leaves the sum of its units' losses in out[its global
// index], and loss_finish.wgsl adds those up. No workgroup tree here: a barrier makes
// lavapipe run the whole kernel as coroutines, which cost the loop more than the finish
// kernel's extra reads.
