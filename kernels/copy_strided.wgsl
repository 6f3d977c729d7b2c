// ops: permute, transpose, slice, concat, pad — stridedCopy, expand, permute, transpose, slice, concat, pad (engine/ops/movement.ts)
// Strided copy: for every index of `shape`, out[out_offset + idx·out_strides] =
// x[x_offset + idx·x_strides]. Serves permute, slice, concat, pad, expand and upsample.
// Works on raw 32-bit words, so it moves any dtype.
//
// The host merges dimensions first (movement.ts: coalesceDims), so the innermost one is as
// long as the layouts allow. Each invocation copies a run of up to PER elements along it:
// it decodes its row (the outer dimensions) with one division and modulo per dimension,
// costly per lane on lavapipe, then steps through the run by the innermost strides.
// (One decode per element made upsampling run at ~10 ns an element.)
//!include index

struct Params { n: u32, rank: u32, x_offset: u32, out_offset: u32, shape: Dims, x_strides: Dims, out_strides: Dims, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
const WG = 256u;
const PER = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_index(gid, nwg, WG);
  let last = u.rank - 1u;
  let n_last = dim_at(u.shape, last);
  let runs = (n_last + PER - 1u) / PER;   // runs per row
  var row = t / runs;
  if (row >= u.n / n_last) { return; }
  let k0 = (t % runs) * PER;
  var src = u.x_offset + k0 * dim_at(u.x_strides, last);
  var dst = u.out_offset + k0 * dim_at(u.out_strides, last);
  for (var d = i32(last) - 1; d >= 0; d--) {
    let n = dim_at(u.shape, u32(d));
    let k = row % n;
    row /= n;
    src += k * dim_at(u.x_strides, u32(d));
    dst += k * dim_at(u.out_strides, u32(d));
  }
  let xs = dim_at(u.x_strides, last);
  let os = dim_at(u.out_strides, last);
  let count = min(PER, n_last - k0);
  for (var e = 0u; e < count; e++) {
    out[dst + e * os] = x[src + e * xs];
  }
}
