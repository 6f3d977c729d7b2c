// op: where — where (engine/ops/elementwise.ts)
// out = cond != 0 ? a : b, all three broadcast to the output shape.
//!include index

struct Params { n: u32, rank: u32, shape: Dims, c_strides: Dims, a_strides: Dims, b_strides: Dims, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  let c = cond[strided_offset(i, u.rank, u.shape, u.c_strides)];
  let x = a[strided_offset(i, u.rank, u.shape, u.a_strides)];
  let y = b[strided_offset(i, u.rank, u.shape, u.b_strides)];
  out[i] = select(y, x, c != 0.0);
}
