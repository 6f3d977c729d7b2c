// The fused-loss contract, declared once: what engine/ops/lossLaunch.ts (fusedLoss) binds
// and sets for every loss kernel of engine/ops/losses.ts, with loss_common's scaffolding.
//
// Bindings, by name (their numbers are each kernel's own; the runtime reflects them):
//   the op's read-only inputs; `weight` (array<f32>, per-unit weights, read when WEIGHTED;
//   u.w_div consecutive units share one); `out` (array<f32>: each unit's loss, or with
//   REDUCE one partial sum per invocation for loss_finish.wgsl); `grad_a`, `grad_b`
//   (d loss/d the first and second differentiable input, written when GRAD_A / GRAD_B; a
//   placeholder buffer otherwise). Uniforms: Params opens with `n` (work units of the
//   grid-stride loop) and `w_div`.
//!include loss_common

override REDUCE: bool = false;
override WEIGHTED: bool = false;
override GRAD_A: bool = false;
override GRAD_B: bool = false;
