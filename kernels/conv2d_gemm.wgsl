// op: conv2d — conv2d (engine/ops/conv.ts)
// 1×1, stride-1, unpadded convolutions (and their input gradient) as a plain batched GEMM
// per image and group: c[i, j] = Σ_k a[k, i] · b[k, j] (+ bias[i]), where b and c are
// channel × pixel planes of NCHW tensors and a is the weight packed by conv2d_pack as
// [groups][k][i padded to 16], so the same kernel computes out = w · x (forward, a = wᵀ
// packed) and dx = wᵀ · dy (input gradient, a = w packed co-major).
// Each invocation owns TM pixels (strided by the workgroup size) × TN rows i.

struct Params {
  n: u32,          // images
  groups: u32,
  rows: u32,       // i per group (Cout/groups forward, Cin/groups for dx)
  depth: u32,      // k per group
  plane: u32,      // pixels per channel (H·W)
  b_ch: u32,       // channels of b per image
  c_ch: u32,       // channels of c per image
  r_blocks: u32,   // 16-row blocks per group (a's rows are padded to r_blocks·16)
};
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

override HAS_BIAS: bool = false;

const WG = 16u;
const TM = 8u;
const TN = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = u.n * u.plane;
  let g = wid.y / u.r_blocks;
  let r0 = (wid.y % u.r_blocks) * TN;
  let p0 = (wid.x + wid.z * nwg.x) * WG * TM + lid.x;
  let jmax = min(TN, u.rows - r0) - 1u;   // rows past the group are zero and never stored
  let rp4 = u.r_blocks * (TN / 4u);       // vec4s per row of a

  var ba: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let p = min(p0 + i * WG, m - 1u);
    ba[i] = ((p / u.plane) * u.b_ch + g * u.depth) * u.plane + p % u.plane;
  }
  var acc0: array<vec4<f32>, TM>;
  var acc1: array<vec4<f32>, TM>;
  var acc2: array<vec4<f32>, TM>;
  var acc3: array<vec4<f32>, TM>;
  var bv: array<f32, TM>;
  var ak = g * u.depth * rp4 + r0 / 4u;
  for (var k = 0u; k < u.depth; k++) {
    for (var i = 0u; i < TM; i++) { bv[i] = b[ba[i]]; ba[i] += u.plane; }
    let w0 = a[ak];
    let w1 = a[ak + 1u];
    let w2 = a[ak + 2u];
    let w3 = a[ak + 3u];
    for (var i = 0u; i < TM; i++) {
      let s = vec4<f32>(bv[i]);
      acc0[i] = fma(s, w0, acc0[i]);
      acc1[i] = fma(s, w1, acc1[i]);
      acc2[i] = fma(s, w2, acc2[i]);
      acc3[i] = fma(s, w3, acc3[i]);
    }
    ak += rp4;
  }

  for (var i = 0u; i < TM; i++) {
    let p = p0 + i * WG;
    if (p < m) {
      let cb = ((p / u.plane) * u.c_ch + g * u.rows + r0) * u.plane + p % u.plane;
      for (var j = 0u; j < TN; j++) {
        if (j <= jmax) {
          let q = j / 4u;
          var v = select(select(select(acc3[i], acc2[i], q == 2u), acc1[i], q == 1u), acc0[i], q == 0u)[j % 4u];
          if (HAS_BIAS) { v += bias[g * u.rows + r0 + j]; }
          c[cb + j * u.plane] = v;
        }
      }
    }
  }
}
