// ops: sigmoid_focal_loss, generalized_box_iou_loss, iou_loss — fusedLoss (engine/ops/lossLaunch.ts): every fused loss with reduction 'sum' or 'mean' (the specs of the others check their unreduced loss; test/ops/losses.test.ts their reduced one)
// The last step of a reduced loss: sums the per-workgroup partial sums of a loss kernel
// and applies the normaliser (engine/ops/losses.ts):
//   AVG 0 ('sum'): factor 1;  AVG 1: 1/(u.avg + u.avg_eps) with a number (mean over the
//   elements passes their count and 0);  AVG 2: 1/(avg[0] + u.avg_eps) with avg_factor
//   computed on the GPU.
// out[0] = total·factor; factor[0] = factor, which the backward multiplies into the
// saved gradient (so a GPU-side avg_factor never needs a readback).
const WG = 256u;

struct Params { parts: u32, avg: f32, avg_eps: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> factor: array<f32>;
override AVG: u32 = 0u;
var<workgroup> tree: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < u.parts; i += WG) { acc += partial[i]; }
  tree[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) { tree[lid.x] += tree[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    var f = 1.0;
    if (AVG == 1u) { f = 1.0 / (u.avg + u.avg_eps); }
    if (AVG == 2u) { f = 1.0 / (avg[0] + u.avg_eps); }
    out[0] = tree[0] * f;
    factor[0] = f;
  }
}
