// ops: distance2bbox, bbox2distance — distance2bbox, bbox2distance (engine/ops/boxes.ts)
// Box coding of GFL/FCOS (docs/crosskd.md §5), one point per loop iteration:
//   MODE 0 distance2bbox: (p_x - d_l, p_y - d_t, p_x + d_r, p_y + d_b)
//   MODE 1 bbox2distance: (p_x - x1, p_y - y1, x2 - p_x, y2 - p_y)
// With CLAMP each result is clamped to [0, hi] per coordinate: hi = (W, H, W, H) of
// max_shape for distance2bbox, (max_dis - eps)·1 for bbox2distance (mmdetection).
const WG = 256u;

struct Params { n: u32, hi: vec4<f32>, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> points: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
override MODE: u32 = 0u;
override CLAMP: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < u.n; i += nwg.x * WG) {
    let p = points[i].xyxy;
    let b = boxes[i];
    var v: vec4<f32>;
    if (MODE == 0u) {
      v = p + vec4(-b.xy, b.zw);
    } else {
      v = vec4(p.xy - b.xy, b.zw - p.zw);
    }
    if (CLAMP) { v = clamp(v, vec4(0.0), u.hi); }
    out[i] = v;
  }
}
