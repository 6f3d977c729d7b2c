// Shared index arithmetic. Shapes and strides travel in uniforms as array<vec4<u32>, 2>
// (up to 8 dims, leading unused dims = 1 / stride 0), so one pipeline serves every shape.

alias Dims = array<vec4<u32>, 2>;

fn dim_at(v: Dims, i: u32) -> u32 {
  return v[i / 4u][i % 4u];
}

// The flat invocation index of a 1-D launch folded into a 2-D grid (x ≤ 65535 groups).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg_size;
}

// Offset of flat row-major index `i` of a tensor of `shape` read through `strides`.
fn strided_offset(i: u32, rank: u32, shape: Dims, strides: Dims) -> u32 {
  // one dimension (a coalesced walk, e.g. a scalar broadcast): no division (i < shape[0])
  if (rank == 1u) { return i * strides[0].x; }
  var rest = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let n = dim_at(shape, u32(d));
    off += (rest % n) * dim_at(strides, u32(d));
    rest /= n;
  }
  return off;
}
