// op: max_pool2d — maxPool2d (engine/ops/movement.ts)
// max_pool2d (engine/ops/movement.ts: maxPool2d): one invocation per output element of
// [N, C, OH, OW]: the first maximum of its kh×kw window in row-major order (a NaN wins, as
// PyTorch's CPU kernel), padding never read. Writes the value and the flat input index it
// came from (the backward scatters the gradient there with index_add).
//!include index

struct Params { total: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;
const WG = 256u;

// by its bits: WGSL lets compilers assume floats are never NaN, so v != v may fold to false
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_index(gid, nwg, WG);
  if (t >= u.total) { return; }
  let ox = t % u.ow;
  let oy = (t / u.ow) % u.oh;
  let plane = t / (u.ow * u.oh);
  // window [y0, y1) × [x0, x1) clipped to the image (i32: the padded origin may be negative)
  let wy = i32(oy * u.sh) - i32(u.ph);
  let wx = i32(ox * u.sw) - i32(u.pw);
  let y0 = u32(max(wy, 0));
  let x0 = u32(max(wx, 0));
  let y1 = u32(min(wy + i32(u.kh), i32(u.h)));
  let x1 = u32(min(wx + i32(u.kw), i32(u.w)));
  let base = plane * u.h * u.w;
  // start from the window's first element: the same as PyTorch's −∞ start (a −∞ there keeps
  // its index), without a −∞ constant, which WGSL cannot write
  var at = base + y0 * u.w + x0;
  var best = x[at];
  for (var y = y0; y < y1; y++) {
    for (var xx = x0; xx < x1; xx++) {
      let i = base + y * u.w + xx;
      let v = x[i];
      if (v > best || is_nan(v)) {
        best = v;
        at = i;
      }
    }
  }
  out[t] = best;
  argmax[t] = i32(at);
}
