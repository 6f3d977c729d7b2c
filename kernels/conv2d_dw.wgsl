// op: conv2d — conv2d, conv2dWeightGrad (engine/ops/conv.ts)
// conv2d weight gradient as a GEMM reduction over output positions, per group and tap:
// dw[co, ci, tap] = Σ_{n,oy,ox} dy[n, co, oy, ox] · x[n, ci, oy·sh - ph + ky·dh, ox·sw - pw + kx·dw].
// A workgroup owns a tile of TM output channels × TN input channels at one tap and one slice
// of the N·Ho·Wo positions (u.split_len of them). Its lanes walk the slice's positions in
// step (neighbouring lanes, neighbouring pixels), each summing its own TM × TN products;
// one workgroup-memory tree then adds the lanes' sums. Slices write their partial sums to
// `part` ([splits][Cout][Cin/groups][kh][kw], then [splits][Cout] bias sums), and
// conv2d_dw_reduce adds the slices in a fixed order: deterministic, no float atomics.
// With one slice, `part` is the gradient itself.
//
// FOLD_TAPS (few input channels, e.g. the 3-channel stem): a tile's TN columns are TN
// consecutive (input channel, tap) pairs of the flattened Cin/groups·kh·kw axis instead of
// TN channels at one tap, so 3 channels × 9 taps fill 27 of 32 lanes rather than 3 of 16.
// Each column then gathers x at its own (channel, ky, kx), bounds-checked per column.
//!include conv_common

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override HAS_BIAS: bool = false;
override FOLD_TAPS: bool = false;

const WG = 16u;
const TM = 16u;  // output channels per tile (16 × 16 sums: each loaded value feeds 16 FMAs;
                 // measured 25% faster than 8 × 16 on lavapipe despite the spilled registers)
const TN = 16u;  // input channels per tile (4 vec4)
var<workgroup> sums: array<vec4<f32>, WG * TM * 4u>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let hw = u.h * u.w;
  let hwo = u.ho * u.wo;
  let khw = u.kh * u.kw;
  let m = u.n * hwo;
  // Workgroup → (slice, g, co block, tap, ci block), ci block fastest, so workgroups that
  // run one after another read the same slice of dy and x (it stays in cache).
  // (With FOLD_TAPS there is one "tap" and c_blocks counts blocks of the flattened
  // channel·tap columns.)
  let co_blocks = (u.cout_g + TM - 1u) / TM;
  let taps = select(khw, 1u, FOLD_TAPS);
  let tiles = u.groups * co_blocks * taps * u.c_blocks;
  let wg_index = wid.x + nwg.x * wid.y;
  let slice = wg_index / tiles;
  var t = wg_index % tiles;
  let cib = t % u.c_blocks;   t /= u.c_blocks;
  let tap = t % taps;         t /= taps;
  let cob = t % co_blocks;
  let g = t / co_blocks;
  let ci0 = cib * TN;
  let co0 = cob * TM;
  let ky = tap / u.kw;
  let kx = tap % u.kw;
  let imax = min(TM, u.cout_g - co0) - 1u;   // rows past cout_g re-read the last one
  let columns = select(u.cin_g, u.cin_g * khw, FOLD_TAPS);
  let jmax = min(TN, columns - ci0) - 1u;
  // FOLD_TAPS: each column's channel offset and tap displacement
  var col_x: array<u32, TN>;
  var col_dy: array<i32, TN>;
  var col_dx: array<i32, TN>;
  if (FOLD_TAPS) {
    for (var j = 0u; j < TN; j++) {
      let c = ci0 + min(j, jmax);
      let ct = c % khw;
      col_x[j] = (c / khw) * hw;
      col_dy[j] = i32((ct / u.kw) * u.dh) - i32(u.ph);
      col_dx[j] = i32((ct % u.kw) * u.dw) - i32(u.pw);
    }
  }

  // This lane's first position and how (n, oy, ox) advance when the position grows by WG.
  let pstart = slice * u.split_len;
  let pend = select(0u, min(pstart + u.split_len, m), slice < u.splits);  // folding spares do nothing
  var p = pstart + lid.x;
  let q = min(p, m - 1u);
  var n = q / hwo;
  var oy = (q % hwo) / u.wo;
  var ox = q % u.wo;
  let step_x = WG % u.wo;
  let step_y = (WG / u.wo) % u.ho;
  let step_n = WG / hwo;

  var acc0: array<vec4<f32>, TM>;
  var acc1: array<vec4<f32>, TM>;
  var acc2: array<vec4<f32>, TM>;
  var acc3: array<vec4<f32>, TM>;
  var bsum: array<vec4<f32>, TM / 4u>;
  var yv: array<f32, TM>;

  var xv: array<f32, TN>;
  for (; p < pend; p += WG) {
    let ya = ((n * u.cout + g * u.cout_g + co0) * hwo) + oy * u.wo + ox;
    for (var i = 0u; i < TM; i++) { yv[i] = dy[ya + min(i, imax) * hwo]; }
    var x0: vec4<f32>;
    var x1: vec4<f32>;
    var x2: vec4<f32>;
    var x3: vec4<f32>;
    if (FOLD_TAPS) {
      let xb = (n * u.cin + g * u.cin_g) * hw;
      let iy0 = i32(oy * u.sh);
      let ix0 = i32(ox * u.sw);
      for (var j = 0u; j < TN; j++) {
        let iy = iy0 + col_dy[j];
        let ix = ix0 + col_dx[j];
        let ok = iy >= 0 && iy < i32(u.h) && ix >= 0 && ix < i32(u.w);
        xv[j] = select(0.0, x[select(0u, xb + col_x[j] + u32(iy) * u.w + u32(ix), ok)], ok);
      }
      x0 = vec4<f32>(xv[0], xv[1], xv[2], xv[3]);
      x1 = vec4<f32>(xv[4], xv[5], xv[6], xv[7]);
      x2 = vec4<f32>(xv[8], xv[9], xv[10], xv[11]);
      x3 = vec4<f32>(xv[12], xv[13], xv[14], xv[15]);
    } else {
      let iy = i32(oy * u.sh + ky * u.dh) - i32(u.ph);
      let ix = i32(ox * u.sw + kx * u.dw) - i32(u.pw);
      let ok = iy >= 0 && iy < i32(u.h) && ix >= 0 && ix < i32(u.w);
      let xa = select(0u, ((n * u.cin + g * u.cin_g + ci0) * hw) + u32(iy) * u.w + u32(ix), ok);
      x0 = select(vec4<f32>(0.0), vec4<f32>(x[xa + min(0u, jmax) * hw], x[xa + min(1u, jmax) * hw],
                                            x[xa + min(2u, jmax) * hw], x[xa + min(3u, jmax) * hw]), ok);
      x1 = select(vec4<f32>(0.0), vec4<f32>(x[xa + min(4u, jmax) * hw], x[xa + min(5u, jmax) * hw],
                                            x[xa + min(6u, jmax) * hw], x[xa + min(7u, jmax) * hw]), ok);
      x2 = select(vec4<f32>(0.0), vec4<f32>(x[xa + min(8u, jmax) * hw], x[xa + min(9u, jmax) * hw],
                                            x[xa + min(10u, jmax) * hw], x[xa + min(11u, jmax) * hw]), ok);
      x3 = select(vec4<f32>(0.0), vec4<f32>(x[xa + min(12u, jmax) * hw], x[xa + min(13u, jmax) * hw],
                                            x[xa + min(14u, jmax) * hw], x[xa + min(15u, jmax) * hw]), ok);
    }
    for (var i = 0u; i < TM; i++) {
      let s = vec4<f32>(yv[i]);
      acc0[i] = fma(s, x0, acc0[i]);
      acc1[i] = fma(s, x1, acc1[i]);
      acc2[i] = fma(s, x2, acc2[i]);
      acc3[i] = fma(s, x3, acc3[i]);
    }
    if (HAS_BIAS) {
      for (var q = 0u; q < TM / 4u; q++) {
        bsum[q] += vec4<f32>(yv[4u * q], yv[4u * q + 1u], yv[4u * q + 2u], yv[4u * q + 3u]);
      }
    }
    // advance (n, oy, ox) by WG positions without a division
    ox += step_x;
    let cx = ox >= u.wo;
    ox -= select(0u, u.wo, cx);
    oy += step_y + select(0u, 1u, cx);
    let cy = oy >= u.ho;
    oy -= select(0u, u.ho, cy);
    n += step_n + select(0u, 1u, cy);
  }

  // Lanes' sums → workgroup memory; then each lane adds up whole columns (one vec4 of the
  // tile, over the WG lanes) in lane order.
  for (var i = 0u; i < TM; i++) {
    let at = (i * 4u) * WG + lid.x;
    sums[at] = acc0[i];
    sums[at + WG] = acc1[i];
    sums[at + 2u * WG] = acc2[i];
    sums[at + 3u * WG] = acc3[i];
  }
  workgroupBarrier();
  let wsize = u.cout * u.cin_g * khw;
  let base = slice * wsize;
  for (var c = lid.x; c < TM * 4u; c += WG) {
    // column c: output channel co0 + c / 4, input channels ci0 + 4·(c % 4) + e
    var s = vec4<f32>(0.0);
    for (var l = 0u; l < WG; l++) { s += sums[c * WG + l]; }
    let i = c / 4u;
    if (i <= imax && slice < u.splits) {
      for (var e = 0u; e < 4u; e++) {
        let j = (c % 4u) * 4u + e;
        if (j <= jmax) {
          if (FOLD_TAPS) {
            // column ci0 + j is the flattened (channel, tap) index: contiguous in OIHW
            part[base + (g * u.cout_g + co0 + i) * u.cin_g * khw + ci0 + j] = s[e];
          } else {
            part[base + ((g * u.cout_g + co0 + i) * u.cin_g + ci0 + j) * khw + tap] = s[e];
          }
        }
      }
    }
  }
  if (HAS_BIAS && tap == 0u && cib == 0u) {  // FOLD_TAPS: tap is always 0
    // Bias sums ride along in the (tap 0, first ci block) tiles, which read every dy value anyway.
    workgroupBarrier();
    for (var q = 0u; q < TM / 4u; q++) { sums[q * WG + lid.x] = bsum[q]; }
    workgroupBarrier();
    if (lid.x < TM / 4u && slice < u.splits) {
      var s = vec4<f32>(0.0);
      for (var l = 0u; l < WG; l++) { s += sums[lid.x * WG + l]; }
      let bbase = u.splits * wsize + slice * u.cout + g * u.cout_g + co0;
      for (var e = 0u; e < 4u; e++) {
        let i = lid.x * 4u + e;
        if (i <= imax) { part[bbase + i] = s[e]; }
      }
    }
  }
}
