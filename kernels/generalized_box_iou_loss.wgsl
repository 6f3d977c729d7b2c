// ops: generalized_box_iou_loss, iou_loss — giouLoss, iouLoss (engine/ops/losses.ts)
// GIoU loss and IoU-log loss on aligned x1y1x2y2 box pairs (docs/crosskd.md §3), with the
// gradients to both box sets in one pass, one pair per loop iteration:
//   overlap = max(0, min x2 - max x1)·max(0, min y2 - max y1),
//   union = max(area_a + area_b - overlap, eps), IoU = overlap / union,
//   enclose = max(area of the smallest box holding both, eps),
//   GIoU = IoU - (enclose - union)/enclose;  IOU_LOG false: loss = 1 - GIoU,
//   IOU_LOG true: loss = -ln(max(IoU, eps)) (FCOS).
// The reverse sweep follows engine/reference/detection.ts step by step, with PyTorch's
// subgradients: a tie of two box coordinates in min/max splits the gradient in halves,
// max(v, eps) gives half at v = eps, clamp(min = 0) and clamp(min = eps) pass it at the
// bound. Boxes with x2 < x1 are computed as the formula says (like mmdetection); callers
// with CPU boxes check them with validateBoxes().
//!include fused_loss

struct Params { n: u32, w_div: u32, eps: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> boxes1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> boxes2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_a: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> grad_b: array<vec4<f32>>;
override IOU_LOG: bool = false;

// Gradient shares (to a, to b) of max(a, b) and min(a, b): ties split evenly (torch).
fn max_shares(a: f32, b: f32) -> vec2<f32> {
  return select(select(vec2(0.5, 0.5), vec2(0.0, 1.0), a < b), vec2(1.0, 0.0), a > b);
}
fn min_shares(a: f32, b: f32) -> vec2<f32> {
  return max_shares(b, a); // a < b: a gets it
}
// d/dv max(v, c) for a constant c: half at a tie.
fn max_const_grad(v: f32, c: f32) -> f32 {
  return select(select(0.5, 0.0, v < c), 1.0, v > c);
}
// One coordinate's gradient g split between the two boxes by `shares`, as vec4 slots.
fn side(g: f32, shares: vec2<f32>, k: u32) -> mat2x4<f32> {
  var m = mat2x4<f32>(vec4(0.0), vec4(0.0));
  m[0][k] = g * shares.x;
  m[1][k] = g * shares.y;
  return m;
}

@compute @workgroup_size(LOSS_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let eps = u.eps;
  var acc = 0.0;
  for (var i = gid.x; i < u.n; i += nwg.x * LOSS_WG) {
    let a = boxes1[i];
    let b = boxes2[i];
    var w = 1.0;
    if (WEIGHTED) { w = weight[i / u.w_div]; }
    let area_a = (a.z - a.x) * (a.w - a.y);
    let area_b = (b.z - b.x) * (b.w - b.y);
    // intersection: max of the top-left corners, min of the bottom-right ones
    let iw_raw = min(a.z, b.z) - max(a.x, b.x);
    let ih_raw = min(a.w, b.w) - max(a.y, b.y);
    let iw = max(iw_raw, 0.0);
    let ih = max(ih_raw, 0.0);
    let overlap = iw * ih;
    let union_raw = area_a + area_b - overlap;
    let uni = max(union_raw, eps);
    let iou = overlap / uni;
    // enclosing box: min of the top-left corners, max of the bottom-right ones
    let ew_raw = max(a.z, b.z) - min(a.x, b.x);
    let eh_raw = max(a.w, b.w) - min(a.y, b.y);
    let ew = max(ew_raw, 0.0);
    let eh = max(eh_raw, 0.0);
    let enc_raw = ew * eh;
    let enclose = max(enc_raw, eps);

    var loss: f32;
    var g_iou = 0.0;   // d loss / d IoU
    var g_giou = 0.0;  // d loss / d GIoU
    if (IOU_LOG) {
      loss = -log(max(iou, eps));
      g_iou = select(0.0, -1.0 / max(iou, eps), iou >= eps); // clamp(min = eps) passes at ≥ eps
    } else {
      loss = 1.0 - (iou - (enclose - uni) / enclose);
      g_giou = -1.0;
    }
    if (REDUCE) { acc += w * loss; } else { out[i] = w * loss; }

    if (GRAD_A || GRAD_B) {
      // GIoU = IoU - 1 + union/enclose
      let g_iou_all = (g_iou + g_giou) * w;
      let g_giou_w = g_giou * w;
      let g_union = -g_iou_all * overlap / (uni * uni) + g_giou_w / enclose;
      let g_enclose = -g_giou_w * uni / (enclose * enclose);
      let g_union_raw = g_union * max_const_grad(union_raw, eps);
      let g_overlap = g_iou_all / uni - g_union_raw;
      // areas: d area/d(x1, y1, x2, y2) = (-h, -w, h, w)
      var da = g_union_raw * vec4(-(a.w - a.y), -(a.z - a.x), a.w - a.y, a.z - a.x);
      var db = g_union_raw * vec4(-(b.w - b.y), -(b.z - b.x), b.w - b.y, b.z - b.x);
      // intersection width and height; clamp(min = 0) passes the gradient at ≥ 0
      let g_iw = select(0.0, g_overlap * ih, iw_raw >= 0.0);
      let g_ih = select(0.0, g_overlap * iw, ih_raw >= 0.0);
      var m = side(g_iw, min_shares(a.z, b.z), 2u) + side(-g_iw, max_shares(a.x, b.x), 0u)
            + side(g_ih, min_shares(a.w, b.w), 3u) + side(-g_ih, max_shares(a.y, b.y), 1u);
      if (!IOU_LOG) {
        let g_enc_raw = g_enclose * max_const_grad(enc_raw, eps);
        let g_ew = select(0.0, g_enc_raw * eh, ew_raw >= 0.0);
        let g_eh = select(0.0, g_enc_raw * ew, eh_raw >= 0.0);
        m += side(g_ew, max_shares(a.z, b.z), 2u) + side(-g_ew, min_shares(a.x, b.x), 0u)
           + side(g_eh, max_shares(a.w, b.w), 3u) + side(-g_eh, min_shares(a.y, b.y), 1u);
      }
      if (GRAD_A) { grad_a[i] = da + m[0]; }
      if (GRAD_B) { grad_b[i] = db + m[1]; }
    }
  }
  if (REDUCE) { out[gid.x] = acc; }
}
