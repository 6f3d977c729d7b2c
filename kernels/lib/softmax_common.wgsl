// Shared by the four softmax kernels (forward and backward; one invocation per row, or one
// workgroup per row). The tensor is viewed as (outer, len, inner) with the softmax axis in
// the middle; a row is one line along that axis. Row r = o·inner + i starts at
// o·len·inner + i and steps by inner, so for a middle axis neighbouring rows (and thus
// neighbouring invocations of the per-row kernels) read neighbouring addresses.
//!include index

struct Params { rows: u32, len: u32, inner: u32, }
@group(0) @binding(0) var<uniform> u: Params;
override LOG: bool = false; // log-softmax instead of softmax
// The most negative finite f32: the identity of max (WGSL rejects -inf in constants).
const F32_LOWEST = -3.4028234663852886e38;

fn row_start(r: u32) -> u32 {
  let o = r / u.inner;
  return o * u.len * u.inner + (r - o * u.inner);
}

// A row sum kept in 8 interleaved lanes, combined pairwise at the end: the rounding error
// grows with n/8 + 3 additions instead of n. (Kahan compensation is not an option here:
// the driver's compiler folds its correction term away.)
struct RowSum { lanes: array<f32, 8>, n: u32, }

fn rowsum_init() -> RowSum {
  return RowSum(array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), 0u);
}

fn rowsum_add(acc: RowSum, v: f32) -> RowSum {
  var r = acc;
  r.lanes[r.n % 8u] += v;
  r.n += 1u;
  return r;
}

fn rowsum_total(acc: RowSum) -> f32 {
  let l = acc.lanes;
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
