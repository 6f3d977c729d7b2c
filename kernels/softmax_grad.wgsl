// Backward of softmax / log-softmax along a long axis, fused into one dispatch: one
// workgroup per row; a workgroup tree forms the row's Σ g·y (softmax) or Σ g
// (log-softmax), then every invocation writes its strided share of dx:
//   softmax:      dx = y · (g - Σ g·y)
//   log-softmax:  dx = g - exp(y) · Σ g
//!include softmax_common
//!include workgroup_reduce

@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(TREE_WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  let n = select(0u, u.len, r < u.rows); // rows past the end still reach the barriers
  let start = row_start(r);
  var acc = Kahan(0.0, 0.0);
  for (var k = lid.x; k < n; k += TREE_WG) {
    let at = start + k * u.inner;
    acc = kahan_add(acc, select(g[at] * y[at], g[at], LOG));
  }
  let c = tree_sum(acc.sum, lid.x);
  for (var k = lid.x; k < n; k += TREE_WG) {
    let at = start + k * u.inner;
    dx[at] = select(y[at] * (g[at] - c), g[at] - exp(y[at]) * c, LOG);
  }
}
