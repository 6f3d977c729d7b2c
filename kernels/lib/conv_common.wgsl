// Shared by the conv2d kernels: one uniform block with the whole geometry, so every conv
// pipeline serves every shape. NCHW input, OIHW weight (Cout, Cin/groups, kh, kw).
//
// Why the kernels look the way they do (measured on lavapipe, where each invocation is
// one lane of an 8-wide SIMD loop on a CPU core): every value an invocation reads from a
// storage or workgroup buffer costs a per-lane gather, about as much as 10–20 vector
// multiply-adds, while registers are cheap and spilled registers only cost an L1 access.
// So each invocation keeps a large register tile (8 positions × 16 channels forward and
// for dx, 16 × 16 channels for dW) and every loaded value feeds 8 or 16 multiply-adds; the
// sums spill to the stack, which costs far less than the loads they save. Tried and
// dropped: workgroup-memory tiles (reading them is a gather too, and barriers are costly),
// 4×8, 16×16 and 8×32 forward tiles, workgroups of 8 or 32, two input channels per step,
// taps sharing row loads, and short dW slices for cache locality (all equal or slower).

struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, groups: u32,
  kh: u32, kw: u32, cin_g: u32, cout_g: u32,
  sh: u32, sw: u32, ph: u32, pw: u32,
  dh: u32, dw: u32,
  // work decomposition, set per kernel by engine/ops/conv.ts
  c_blocks: u32,   // channel blocks per group (output channels forward, input channels dx/dw)
  splits: u32,     // dW: slices of the N·Ho·Wo reduction
  split_len: u32,  // dW: pixels per slice
};
@group(0) @binding(0) var<uniform> u: Params;

// The taps t (0 ≤ t < k) that reach input rows of residue r modulo stride s are those with
// t·d ≡ r (mod s): the arithmetic progression first, first + step, ... with
// step = s / gcd(s, d). Returns (first, step); first ≥ k when no tap qualifies.
fn taps_for_residue(r: u32, s: u32, d: u32, k: u32) -> vec2<u32> {
  var a = s;
  var b = d % s;
  while (b != 0u) { let t = a % b; a = b; b = t; }
  let step = s / a;
  var first = k;
  for (var t = 0u; t < min(step, k); t++) {
    if ((t * d) % s == r % s) { first = t; break; }
  }
  return vec2<u32>(first, step);
}
