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

// Kahan-compensated sum: carries the low-order bits each addition drops, so a long row
// of small terms does not lose them against a growing total.
struct Kahan { sum: f32, comp: f32, }

fn kahan_add(acc: Kahan, v: f32) -> Kahan {
  let y = v - acc.comp;
  let t = acc.sum + y;
  return Kahan(t, (t - acc.sum) - y);
}
