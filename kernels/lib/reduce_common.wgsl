// Shared by reduce.wgsl and reduce_rows.wgsl: the uniform block and the accumulator.
// The input index of (output o, reduced r) is
// strided_offset(o over kept dims) + strided_offset(r over reduced dims).
//!include index

struct Params {
  n_out: u32, n_red: u32, out_rank: u32, red_rank: u32, scale: f32,
  out_shape: Dims, out_strides: Dims, red_shape: Dims, red_strides: Dims,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
override OP: u32 = 0u; // 0 sum (times scale: mean passes 1/R), 1 max
const NEG_INF = -3.4028234663852886e38;

struct Acc { sum: f32, comp: f32, }

fn acc_init() -> Acc {
  return Acc(select(0.0, NEG_INF, OP == 1u), 0.0);
}

fn acc_add(acc: Acc, v: f32) -> Acc {
  if (OP == 1u) { return Acc(max(acc.sum, v), 0.0); }
  // Kahan summation: carry the low-order bits each addition drops
  let y = v - acc.comp;
  let t = acc.sum + y;
  return Acc(t, (t - acc.sum) - y);
}

fn input_at(base: u32, r: u32) -> f32 {
  return x[base + strided_offset(r, u.red_rank, u.red_shape, u.red_strides)];
}

fn output_base(o: u32) -> u32 {
  return strided_offset(o, u.out_rank, u.out_shape, u.out_strides);
}

fn finish(v: f32) -> f32 {
  return select(v * u.scale, v, OP == 1u);
}
