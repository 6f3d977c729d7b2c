// conv2d input gradient (the transposed convolution) as its own implicit GEMM per group:
// dx[(n,iy,ix), ci] = Σ_{co, tap} dy[(n,oy,ox), co] · w[co, ci, tap], where oy·sh = iy + ph - ky·dh.
// With stride > 1 most (position, tap) pairs do not meet, so positions are split into the
// sh·sw residue classes of (iy mod sh, ix mod sw): inside one class the contributing taps
// are the same for every position, and each workgroup loops over exactly those taps.
// Each invocation owns TM input positions (strided by the workgroup size) × TN input channels.
//!include conv_common

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const WG = 16u;
const TM = 8u;   // input positions per invocation
const TN = 16u;  // input channels per invocation (4 vec4)

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let hw = u.h * u.w;
  let hwo = u.ho * u.wo;
  let khw = u.kh * u.kw;
  let phases = u.sh * u.sw;
  // Residue class (ry, rx) and its grid of positions iy = ry + sh·a, ix = rx + sw·b.
  let phase = wid.z % phases;
  let ry = phase / u.sw;
  let rx = phase % u.sw;
  let hp = select(0u, (u.h - ry + u.sh - 1u) / u.sh, ry < u.h);
  let wp = select(0u, (u.w - rx + u.sw - 1u) / u.sw, rx < u.w);
  let mp = u.n * hp * wp;
  let g = wid.y / u.c_blocks;
  let ci0 = (wid.y % u.c_blocks) * TN;
  let p0 = (wid.x + (wid.z / phases) * nwg.x) * WG * TM + lid.x;

  var a: array<i32, TM>;       // row index inside the class
  var b: array<i32, TM>;
  var dybase: array<u32, TM>;  // offset of dy[n, g·cout_g, 0, 0]
  for (var i = 0u; i < TM; i++) {
    let p = min(p0 + i * WG, max(mp, 1u) - 1u);
    let r = p % max(hp * wp, 1u);
    a[i] = i32(r / max(wp, 1u));
    b[i] = i32(r % max(wp, 1u));
    dybase[i] = ((p / max(hp * wp, 1u)) * u.cout + g * u.cout_g) * hwo;
  }
  let k_len = u.cin_g * khw;
  let jmax = min(TN, u.cin_g - ci0) - 1u;   // channels past cin_g re-read the last one
  let wrow = (g * u.cout_g) * k_len + ci0 * khw;

  var acc0: array<vec4<f32>, TM>;
  var acc1: array<vec4<f32>, TM>;
  var acc2: array<vec4<f32>, TM>;
  var acc3: array<vec4<f32>, TM>;
  var ya: array<u32, TM>;
  var yok: array<bool, TM>;
  var yv: array<f32, TM>;

  let ty = taps_for_residue(ry + u.ph, u.sh, u.dh, u.kh);
  let tx = taps_for_residue(rx + u.pw, u.sw, u.dw, u.kw);
  for (var ky = ty.x; ky < u.kh; ky += ty.y) {
    // oy = a + (ry + ph - ky·dh) / sh, an exact division by construction
    let cy = (i32(ry + u.ph) - i32(ky * u.dh)) / i32(u.sh);
    for (var kx = tx.x; kx < u.kw; kx += tx.y) {
      let cx = (i32(rx + u.pw) - i32(kx * u.dw)) / i32(u.sw);
      for (var i = 0u; i < TM; i++) {
        let oy = a[i] + cy;
        let ox = b[i] + cx;
        yok[i] = oy >= 0 && oy < i32(u.ho) && ox >= 0 && ox < i32(u.wo);
        ya[i] = select(0u, dybase[i] + u32(oy) * u.wo + u32(ox), yok[i]);
      }
      var wk = wrow + ky * u.kw + kx;
      for (var co = 0u; co < u.cout_g; co++) {
        for (var i = 0u; i < TM; i++) { yv[i] = select(0.0, dy[ya[i]], yok[i]); ya[i] += hwo; }
        let w0 = vec4<f32>(weight[wk + min(0u, jmax) * khw], weight[wk + min(1u, jmax) * khw],
                           weight[wk + min(2u, jmax) * khw], weight[wk + min(3u, jmax) * khw]);
        let w1 = vec4<f32>(weight[wk + min(4u, jmax) * khw], weight[wk + min(5u, jmax) * khw],
                           weight[wk + min(6u, jmax) * khw], weight[wk + min(7u, jmax) * khw]);
        let w2 = vec4<f32>(weight[wk + min(8u, jmax) * khw], weight[wk + min(9u, jmax) * khw],
                           weight[wk + min(10u, jmax) * khw], weight[wk + min(11u, jmax) * khw]);
        let w3 = vec4<f32>(weight[wk + min(12u, jmax) * khw], weight[wk + min(13u, jmax) * khw],
                           weight[wk + min(14u, jmax) * khw], weight[wk + min(15u, jmax) * khw]);
        for (var i = 0u; i < TM; i++) {
          let s = vec4<f32>(yv[i]);
          acc0[i] = fma(s, w0, acc0[i]);
          acc1[i] = fma(s, w1, acc1[i]);
          acc2[i] = fma(s, w2, acc2[i]);
          acc3[i] = fma(s, w3, acc3[i]);
        }
        wk += k_len;
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let p = p0 + i * WG;
    if (p < mp) {
      let r = p % (hp * wp);
      let iy = ry + (r / wp) * u.sh;
      let ix = rx + (r % wp) * u.sw;
      let ob = ((p / (hp * wp)) * u.cin + g * u.cin_g + ci0) * hw + iy * u.w + ix;
      for (var j = 0u; j < TN; j++) {
        if (j <= jmax) {
          let q = j / 4u;
          dx[ob + j * hw] = select(select(select(acc3[i], acc2[i], q == 2u), acc1[i], q == 1u), acc0[i], q == 0u)[j % 4u];
        }
      }
    }
  }
}
