// op: matmul — matmul (engine/ops/matmul.ts)
// Batched C[z] = op(A[z]) · op(B[z]); op transposes when TRANS_A / TRANS_B is set, so the
// backward (dA = g·Bᵀ, dB = Aᵀ·g) reads the stored operands without transpose copies.
// One invocation = one SIMD lane on lavapipe: it keeps a 16×8 tile of C in 32 vec4
// accumulators (rows row0..row0+15, columns col0 + 8j: the 8 lanes of a workgroup take
// adjacent columns) and reads A and B straight from storage, with no workgroup memory.
// Tried on lavapipe, 1024³ GFLOP/s (medians, variants back to back; ±15% on this shared
// machine): 16×8 tile 13.4, 12×8 12.6, 8×8 11.8, 8×4 7.8, 4×4 6.3; 12×12 and 16×16 spill
// (6–9); vec4 loads with K unrolled ×4 9.4; workgroup-memory tiles with barriers 3–6; 8×4-
// invocation workgroups 10.5 (TF.js: ~2.4). lavapipe loads each storage element per lane
// behind its own bounds check (~20 instructions, uniform addresses too), so loads per FMA
// decide, and workgroup memory only adds barriers.
//!include index

struct Params {
  M: u32, N: u32, K: u32,
  // this dispatch covers output batches z0.., rows m0.., columns n0.. (65535-group limit)
  z0: u32, m0: u32, n0: u32,
  batch_rank: u32,
  // output batch dims, and each operand's element stride per batch dim (0 = broadcast)
  batch_shape: Dims, a_strides: Dims, b_strides: Dims,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// A stored [K, M] instead of [M, K]; B stored [N, K] instead of [K, N]
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const LANES = 8u;
const TM = 16u;
const TN = 8u;

fn store8(o: u32, col0: u32, v0: vec4<f32>, v1: vec4<f32>) {
  let n = u.N;
  if (col0 < n) { out[o + col0] = v0.x; }
  if (col0 + 8u < n) { out[o + col0 + 8u] = v0.y; }
  if (col0 + 16u < n) { out[o + col0 + 16u] = v0.z; }
  if (col0 + 24u < n) { out[o + col0 + 24u] = v0.w; }
  if (col0 + 32u < n) { out[o + col0 + 32u] = v1.x; }
  if (col0 + 40u < n) { out[o + col0 + 40u] = v1.y; }
  if (col0 + 48u < n) { out[o + col0 + 48u] = v1.z; }
  if (col0 + 56u < n) { out[o + col0 + 56u] = v1.w; }
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = u.M;
  let N = u.N;
  let K = u.K;
  let z = u.z0 + wg.z;
  let a_off = strided_offset(z, u.batch_rank, u.batch_shape, u.a_strides);
  let b_off = strided_offset(z, u.batch_rank, u.batch_shape, u.b_strides);
  let row0 = u.m0 + wg.y * TM;
  let col0 = u.n0 + wg.x * (LANES * TN) + lid.x;

  // A(r, k) = a[ar + k·a_ks], B(k, c) = b[bc + k·b_ks]. Rows and columns past the edge
  // are clamped (they read valid data and are never stored), so the loop has no branches.
  let a_rs = select(K, 1u, TRANS_A);
  let a_ks = select(1u, M, TRANS_A);
  let b_cs = select(1u, K, TRANS_B);
  let b_ks = select(N, 1u, TRANS_B);
  let ar0 = a_off + min(row0, M - 1u) * a_rs;
  let ar1 = a_off + min(row0 + 1u, M - 1u) * a_rs;
  let ar2 = a_off + min(row0 + 2u, M - 1u) * a_rs;
  let ar3 = a_off + min(row0 + 3u, M - 1u) * a_rs;
  let ar4 = a_off + min(row0 + 4u, M - 1u) * a_rs;
  let ar5 = a_off + min(row0 + 5u, M - 1u) * a_rs;
  let ar6 = a_off + min(row0 + 6u, M - 1u) * a_rs;
  let ar7 = a_off + min(row0 + 7u, M - 1u) * a_rs;
  let ar8 = a_off + min(row0 + 8u, M - 1u) * a_rs;
  let ar9 = a_off + min(row0 + 9u, M - 1u) * a_rs;
  let ar10 = a_off + min(row0 + 10u, M - 1u) * a_rs;
  let ar11 = a_off + min(row0 + 11u, M - 1u) * a_rs;
  let ar12 = a_off + min(row0 + 12u, M - 1u) * a_rs;
  let ar13 = a_off + min(row0 + 13u, M - 1u) * a_rs;
  let ar14 = a_off + min(row0 + 14u, M - 1u) * a_rs;
  let ar15 = a_off + min(row0 + 15u, M - 1u) * a_rs;
  let bc0 = b_off + min(col0, N - 1u) * b_cs;
  let bc1 = b_off + min(col0 + 8u, N - 1u) * b_cs;
  let bc2 = b_off + min(col0 + 16u, N - 1u) * b_cs;
  let bc3 = b_off + min(col0 + 24u, N - 1u) * b_cs;
  let bc4 = b_off + min(col0 + 32u, N - 1u) * b_cs;
  let bc5 = b_off + min(col0 + 40u, N - 1u) * b_cs;
  let bc6 = b_off + min(col0 + 48u, N - 1u) * b_cs;
  let bc7 = b_off + min(col0 + 56u, N - 1u) * b_cs;

  // c<row>_0 holds columns 0..3 of the lane's 8, c<row>_1 columns 4..7
  var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0);
  var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0);
  var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0);
  var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0);
  var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0);
  var c8_0 = vec4<f32>(0.0); var c8_1 = vec4<f32>(0.0);
  var c9_0 = vec4<f32>(0.0); var c9_1 = vec4<f32>(0.0);
  var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0);
  var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0);
  var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0);
  var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0);
  var c14_0 = vec4<f32>(0.0); var c14_1 = vec4<f32>(0.0);
  var c15_0 = vec4<f32>(0.0); var c15_1 = vec4<f32>(0.0);

  for (var k = 0u; k < K; k++) {
    let ka = k * a_ks;
    let kb = k * b_ks;
    let b0 = vec4<f32>(b[bc0 + kb], b[bc1 + kb], b[bc2 + kb], b[bc3 + kb]);
    let b1 = vec4<f32>(b[bc4 + kb], b[bc5 + kb], b[bc6 + kb], b[bc7 + kb]);
    var s: vec4<f32>;
    s = vec4<f32>(a[ar0 + ka]); c0_0 = fma(s, b0, c0_0); c0_1 = fma(s, b1, c0_1);
    s = vec4<f32>(a[ar1 + ka]); c1_0 = fma(s, b0, c1_0); c1_1 = fma(s, b1, c1_1);
    s = vec4<f32>(a[ar2 + ka]); c2_0 = fma(s, b0, c2_0); c2_1 = fma(s, b1, c2_1);
    s = vec4<f32>(a[ar3 + ka]); c3_0 = fma(s, b0, c3_0); c3_1 = fma(s, b1, c3_1);
    s = vec4<f32>(a[ar4 + ka]); c4_0 = fma(s, b0, c4_0); c4_1 = fma(s, b1, c4_1);
    s = vec4<f32>(a[ar5 + ka]); c5_0 = fma(s, b0, c5_0); c5_1 = fma(s, b1, c5_1);
    s = vec4<f32>(a[ar6 + ka]); c6_0 = fma(s, b0, c6_0); c6_1 = fma(s, b1, c6_1);
    s = vec4<f32>(a[ar7 + ka]); c7_0 = fma(s, b0, c7_0); c7_1 = fma(s, b1, c7_1);
    s = vec4<f32>(a[ar8 + ka]); c8_0 = fma(s, b0, c8_0); c8_1 = fma(s, b1, c8_1);
    s = vec4<f32>(a[ar9 + ka]); c9_0 = fma(s, b0, c9_0); c9_1 = fma(s, b1, c9_1);
    s = vec4<f32>(a[ar10 + ka]); c10_0 = fma(s, b0, c10_0); c10_1 = fma(s, b1, c10_1);
    s = vec4<f32>(a[ar11 + ka]); c11_0 = fma(s, b0, c11_0); c11_1 = fma(s, b1, c11_1);
    s = vec4<f32>(a[ar12 + ka]); c12_0 = fma(s, b0, c12_0); c12_1 = fma(s, b1, c12_1);
    s = vec4<f32>(a[ar13 + ka]); c13_0 = fma(s, b0, c13_0); c13_1 = fma(s, b1, c13_1);
    s = vec4<f32>(a[ar14 + ka]); c14_0 = fma(s, b0, c14_0); c14_1 = fma(s, b1, c14_1);
    s = vec4<f32>(a[ar15 + ka]); c15_0 = fma(s, b0, c15_0); c15_1 = fma(s, b1, c15_1);
  }

  let c_off = z * M * N;
  if (row0 < M) { store8(c_off + row0 * N, col0, c0_0, c0_1); }
  if (row0 + 1u < M) { store8(c_off + (row0 + 1u) * N, col0, c1_0, c1_1); }
  if (row0 + 2u < M) { store8(c_off + (row0 + 2u) * N, col0, c2_0, c2_1); }
  if (row0 + 3u < M) { store8(c_off + (row0 + 3u) * N, col0, c3_0, c3_1); }
  if (row0 + 4u < M) { store8(c_off + (row0 + 4u) * N, col0, c4_0, c4_1); }
  if (row0 + 5u < M) { store8(c_off + (row0 + 5u) * N, col0, c5_0, c5_1); }
  if (row0 + 6u < M) { store8(c_off + (row0 + 6u) * N, col0, c6_0, c6_1); }
  if (row0 + 7u < M) { store8(c_off + (row0 + 7u) * N, col0, c7_0, c7_1); }
  if (row0 + 8u < M) { store8(c_off + (row0 + 8u) * N, col0, c8_0, c8_1); }
  if (row0 + 9u < M) { store8(c_off + (row0 + 9u) * N, col0, c9_0, c9_1); }
  if (row0 + 10u < M) { store8(c_off + (row0 + 10u) * N, col0, c10_0, c10_1); }
  if (row0 + 11u < M) { store8(c_off + (row0 + 11u) * N, col0, c11_0, c11_1); }
  if (row0 + 12u < M) { store8(c_off + (row0 + 12u) * N, col0, c12_0, c12_1); }
  if (row0 + 13u < M) { store8(c_off + (row0 + 13u) * N, col0, c13_0, c13_1); }
  if (row0 + 14u < M) { store8(c_off + (row0 + 14u) * N, col0, c14_0, c14_1); }
  if (row0 + 15u < M) { store8(c_off + (row0 + 15u) * N, col0, c15_0, c15_1); }
}
