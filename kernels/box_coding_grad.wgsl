// ops: distance2bbox, bbox2distance — distance2bbox, bbox2distance (engine/ops/boxes.ts)
// Backward of box_coding.wgsl (same MODE, CLAMP and hi): g is the gradient of the four
// outputs per point. The clamp passes the gradient where 0 ≤ raw value ≤ hi (inclusive,
// as torch.clamp). Both modes give the boxes/distances (-g_0, -g_1, g_2, g_3); the point
// gets (g_0 + g_2, g_1 + g_3) from distance2bbox and (g_0 - g_2, g_1 - g_3) from
// bbox2distance.
const WG = 256u;

struct Params { n: u32, hi: vec4<f32>, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> points: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> d_points: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> d_boxes: array<vec4<f32>>;
override MODE: u32 = 0u;
override CLAMP: bool = false;
override GRAD_POINTS: bool = false;
override GRAD_BOXES: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < u.n; i += nwg.x * WG) {
    var gi = g[i];
    if (CLAMP) {
      let p = points[i].xyxy;
      let b = boxes[i];
      var v: vec4<f32>;
      if (MODE == 0u) {
        v = p + vec4(-b.xy, b.zw);
      } else {
        v = vec4(p.xy - b.xy, b.zw - p.zw);
      }
      gi = select(vec4(0.0), gi, (v >= vec4(0.0)) & (v <= u.hi));
    }
    if (GRAD_BOXES) { d_boxes[i] = vec4(-gi.xy, gi.zw); }
    if (GRAD_POINTS) { d_points[i] = select(gi.xy - gi.zw, gi.xy + gi.zw, MODE == 0u); }
  }
}
