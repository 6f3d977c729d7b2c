// op: conv2d — conv2d (engine/ops/conv.ts)
// conv2d forward as an implicit GEMM per group: out[(n,oy,ox), co] = Σ_k x̂[(n,oy,ox), k] · w[co, k]
// with k = (tap, ci), taps outermost so the padding test runs once per tap and position,
// not once per input channel. Each invocation owns TM output positions (strided by the
// workgroup size, so a SIMD row of lanes reads neighbouring pixels) × TN output channels.
//!include conv_common

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;  // conv2d_pack: [g][tap][ci][cout_p]
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override HAS_BIAS: bool = false;

const WG = 16u;
const TM = 8u;   // output positions per invocation
const TN = 16u;  // output channels per invocation (4 vec4)

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let hw = u.h * u.w;
  let hwo = u.ho * u.wo;
  let m = u.n * hwo;
  let khw = u.kh * u.kw;
  let g = wid.y / u.c_blocks;
  let co0 = (wid.y % u.c_blocks) * TN;       // first channel of the tile, within the group
  let p0 = (wid.x + wid.z * nwg.x) * WG * TM + lid.x;  // position blocks fold into x and z

  // Per position: output row/column and the offset of its image's first channel of group g.
  var oy: array<i32, TM>;
  var ox: array<i32, TM>;
  var xbase: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let p = min(p0 + i * WG, m - 1u);        // past-the-end lanes recompute the last position
    let r = p % hwo;
    oy[i] = i32(r / u.wo) * i32(u.sh) - i32(u.ph);
    ox[i] = i32(r % u.wo) * i32(u.sw) - i32(u.pw);
    xbase[i] = ((p / hwo) * u.cin + g * u.cin_g) * hw;
  }
  let cp4 = u.c_blocks * (TN / 4u);          // vec4s per packed weight row
  let jmax = min(TN, u.cout_g - co0) - 1u;   // channels past cout_g are zero and never stored

  var acc0: array<vec4<f32>, TM>;
  var acc1: array<vec4<f32>, TM>;
  var acc2: array<vec4<f32>, TM>;
  var acc3: array<vec4<f32>, TM>;
  var xa: array<u32, TM>;
  var xok: array<bool, TM>;
  var xv: array<f32, TM>;

  for (var tap = 0u; tap < khw; tap++) {
    let dy = i32((tap / u.kw) * u.dh);
    let dx = i32((tap % u.kw) * u.dw);
    for (var i = 0u; i < TM; i++) {
      let iy = oy[i] + dy;
      let ix = ox[i] + dx;
      xok[i] = iy >= 0 && iy < i32(u.h) && ix >= 0 && ix < i32(u.w);
      xa[i] = select(0u, xbase[i] + u32(iy) * u.w + u32(ix), xok[i]);
    }
    var wk = (g * khw + tap) * u.cin_g * cp4 + co0 / 4u;
    for (var ci = 0u; ci < u.cin_g; ci++) {
      for (var i = 0u; i < TM; i++) { xv[i] = select(0.0, x[xa[i]], xok[i]); xa[i] += hw; }
      let w0 = weight[wk];
      let w1 = weight[wk + 1u];
      let w2 = weight[wk + 2u];
      let w3 = weight[wk + 3u];
      for (var i = 0u; i < TM; i++) {
        let s = vec4<f32>(xv[i]);
        acc0[i] = fma(s, w0, acc0[i]);
        acc1[i] = fma(s, w1, acc1[i]);
        acc2[i] = fma(s, w2, acc2[i]);
        acc3[i] = fma(s, w3, acc3[i]);
      }
      wk += cp4;
    }
  }

  for (var i = 0u; i < TM; i++) {
    let p = p0 + i * WG;
    if (p < m) {
      let ob = ((p / hwo) * u.cout + g * u.cout_g + co0) * hwo + p % hwo;
      for (var j = 0u; j < TN; j++) {
        if (j <= jmax) {
          let q = j / 4u;
          var v = select(select(select(acc3[i], acc2[i], q == 2u), acc1[i], q == 1u), acc0[i], q == 0u)[j % 4u];
          if (HAS_BIAS) { v += bias[g * u.cout_g + co0 + j]; }
          out[ob + j * hwo] = v;
        }
      }
    }
  }
}
