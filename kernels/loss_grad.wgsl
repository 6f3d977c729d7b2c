// Backward of a fused loss: the forward kernel saved d loss/d input (already weighted);
// the input's gradient is that times the upstream gradient g.
//   SCALAR (reduced loss): dx[i] = saved[i] · g[0] · factor[0] (factor from loss_finish);
//   otherwise:             dx[i] = saved[i] · g[i / g_div], one g per loss element, which
//                          spans g_div gradient elements (the classes of a row, 4 box sides).
//!include index

struct Params { n: u32, g_div: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> factor: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
override SCALAR: bool = false;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  if (SCALAR) {
    dx[i] = saved[i] * (g[0] * factor[0]);
  } else {
    dx[i] = saved[i] * g[i / u.g_div];
  }
}
