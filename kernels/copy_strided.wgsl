// Strided copy: for every index of `shape`, out[out_offset + idx·out_strides] =
// x[x_offset + idx·x_strides]. Serves permute, slice, concat, pad, expand and upsample.
// Works on raw 32-bit words, so it moves any dtype.
//!include index

struct Params { n: u32, rank: u32, x_offset: u32, out_offset: u32, shape: Dims, x_strides: Dims, out_strides: Dims, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= u.n) { return; }
  let src = u.x_offset + strided_offset(i, u.rank, u.shape, u.x_strides);
  let dst = u.out_offset + strided_offset(i, u.rank, u.shape, u.out_strides);
  out[dst] = x[src];
}
