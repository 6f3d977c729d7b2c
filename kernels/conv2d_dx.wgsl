// op: conv2d — conv2d (engine/ops/conv.ts)
// conv2d input gradient (the transposed convolution) as its own implicit GEMM per group:
// dx[(n,iy,ix), ci] = Σ_{co, tap} dy[(n,oy,ox), co] · w[co, ci, tap], where oy·sh = iy + ph - ky·dh.
// With stride > 1 most (position, tap) pairs do not meet, so positions are split into the
// sh·sw residue classes of (iy mod sh, ix mod sw): inside one class the contributing taps
// are the same for every position, and each workgroup loops over exactly those taps.
// Each invocation owns TM input positions (strided by the workgroup size) × TN input channels.
//!include conv_common

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;  // conv2d_pack, CO_MAJOR: [g][tap][co][cin_p]
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
  let cp4 = u.c_blocks * (TN / 4u);         // vec4s per packed weight row
  let jmax = min(TN, u.cin_g - ci0) - 1u;   // channels past cin_g are zero and never stored

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
      var wk = (g * khw + ky * u.kw + kx) * u.cout_g * cp4 + ci0 / 4u;
      for (var co = 0u; co < u.cout_g; co++) {
        for (var i = 0u; i < TM; i++) { yv[i] = select(0.0, dy[ya[i]], yok[i]); ya[i] += hwo; }
        let w0 = weight[wk];
        let w1 = weight[wk + 1u];
        let w2 = weight[wk + 2u];
        let w3 = weight[wk + 3u];
        for (var i = 0u; i < TM; i++) {
          let s = vec4<f32>(yv[i]);
          acc0[i] = fma(s, w0, acc0[i]);
          acc1[i] = fma(s, w1, acc1[i]);
          acc2[i] = fma(s, w2, acc2[i]);
          acc3[i] = fma(s, w3, acc3[i]);
        }
        wk += cp4;
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
