// Backward of softmax / log-softmax along a short axis, fused into one dispatch: one
// invocation per row, from the upstream gradient g and the forward output y.
//   softmax:      dx = y · (g - Σ g·y)
//   log-softmax:  dx = g - exp(y) · Σ g      (exp(y) is the softmax; y ≤ 0 so it is ≤ 1)
//!include softmax_common

@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= u.rows) { return; }
  let start = row_start(r);
  var acc = Kahan(0.0, 0.0);
  for (var k = 0u; k < u.len; k++) {
    let at = start + k * u.inner;
    acc = kahan_add(acc, select(g[at] * y[at], g[at], LOG));
  }
  let c = acc.sum;
  for (var k = 0u; k < u.len; k++) {
    let at = start + k * u.inner;
    dx[at] = select(y[at] * (g[at] - c), g[at] - exp(y[at]) * c, LOG);
  }
}
