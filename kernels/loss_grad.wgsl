// ops: sigmoid_focal_loss, quality_focal_loss, kd_quality_focal_loss, distribution_focal_loss, kd_kl_div, generalized_box_iou_loss, iou_loss — fusedLoss (engine/ops/lossLaunch.ts)
// Backward of a fused loss: the forward kernel saved d loss/d input (already weighted);
// the input's gradient is that times the upstream gradient g, four elements at a time:
//   SCALAR (reduced loss): dx = saved · g[0] · factor[0]   (factor from loss_finish.wgsl);
//   otherwise:             dx[i] = saved[i] · g[i / g_div], one g per loss element, which
//                          spans g_div gradient elements (the classes of a row, 4 box sides).
// Both buffers are read as ceil(n/4) whole vec4s: the pool's buffers are multiples of
// 64 bytes (the op checks), so the lanes past n in the last vec4 lie in their own padding. A grid-stride loop over few workgroups:
// on lavapipe that beats one invocation per element by 2–3× for such a light body.
const WG = 256u;

struct Params { n4: u32, g_div: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> saved: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> factor: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<vec4<f32>>;
override SCALAR: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var s = 0.0;
  if (SCALAR) { s = g[0] * factor[0]; }
  let per_vec = u.g_div % 4u == 0u; // all four lanes share one loss element
  for (var i = gid.x; i < u.n4; i += nwg.x * WG) {
    if (SCALAR) {
      dx[i] = saved[i] * s;
    } else if (per_vec) {
      dx[i] = saved[i] * g[4u * i / u.g_div];
    } else {
      let k = 4u * i;
      dx[i] = saved[i] * vec4(g[k / u.g_div], g[(k + 1u) / u.g_div], g[(k + 2u) / u.g_div], g[(k + 3u) / u.g_div]);
    }
  }
}
