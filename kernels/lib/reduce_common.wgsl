// Shared by reduce.wgsl and reduce_rows.wgsl: the uniform block and the combine step.
// The input index of (output o, reduced r) is
// strided_offset(o over kept dims) + strided_offset(r over reduced dims).
// Accuracy comes from the order of additions (pairwise trees, short serial runs), not
// from compensated summation: the driver's compiler may fold Kahan's correction to 0.
//!include index

struct Params {
  n_out: u32, n_red: u32, out_rank: u32, red_rank: u32, scale: f32,
  // long reductions are cut into chunks of chunk_len reduced elements, one workgroup each
  chunk_len: u32, n_chunks: u32,
  out_shape: Dims, out_strides: Dims, red_shape: Dims, red_strides: Dims,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
override OP: u32 = 0u; // 0 sum (times scale: mean passes 1/R), 1 max
override FINISH: bool = true; // false for a first pass that writes raw partial results
const NEG_INF = -3.4028234663852886e38;

fn identity() -> f32 {
  return select(0.0, NEG_INF, OP == 1u);
}

fn combine(a: f32, b: f32) -> f32 {
  return select(a + b, max(a, b), OP == 1u);
}

fn input_at(base: u32, r: u32) -> f32 {
  return x[base + strided_offset(r, u.red_rank, u.red_shape, u.red_strides)];
}

fn output_base(o: u32) -> u32 {
  return strided_offset(o, u.out_rank, u.out_shape, u.out_strides);
}

fn finish(v: f32) -> f32 {
  if (!FINISH || OP == 1u) { return v; }
  return v * u.scale;
}
