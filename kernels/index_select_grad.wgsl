// ops: index_select, index_add — indexSelect, indexAdd (engine/ops/gather.ts)
// Backward of index_select: dx[o, d, i] = Σ over k with index[k] = d of g[o, k, i]
// (g viewed as (outer, K, inner), dx as (outer, len, inner)). Deterministic and free of
// float atomics, without sorting the index: three dispatches of this file (STAGE):
//   0  one invocation per d: clear span[d] (first = 0xffffffff, end = 0)
//   1  one invocation per k: span[index[k]].first = atomicMin(k), .end = atomicMax(k + 1).
//      Only u32 atomics, and min/max do not depend on the order they run in.
//   2  one invocation per dx element: adds g[o, k, i] for the k in [first, end) with
//      index[k] = d, in ascending k (the order a sequential loop would use), so the
//      result is the same bits on every run.
// Cost: O(len + K) for stages 0–1; stage 2 reads (end - first) index entries per dx
// element. Unique indices (gathering positive anchors) or sorted ones make that span
// hold only d's own entries: O(outer·inner·(len + K)) in all. The worst case is an index
// repeated far apart with others between, e.g. [0, 1, …, n, …, 1, 0]: up to K reads per
// dx element. Out-of-range indices (NaN in the forward) reach no dx element.
//!include index

struct Params { n: u32, len: u32, k: u32, inner: u32, }
@group(0) @binding(0) var<uniform> u: Params; // n = dx elements
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> span: array<atomic<u32>>; // (first, end) per d
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
override STAGE: u32 = 0u;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (STAGE == 0u) {
    if (j < u.len) {
      atomicStore(&span[2u * j], 0xffffffffu);
      atomicStore(&span[2u * j + 1u], 0u);
    }
  } else if (STAGE == 1u) {
    if (j < u.k) {
      let d = index[j];
      if (d >= 0 && u32(d) < u.len) {
        atomicMin(&span[2u * u32(d)], j);
        atomicMax(&span[2u * u32(d) + 1u], j + 1u);
      }
    }
  } else if (j < u.n) {
    let i = j % u.inner;
    let t = j / u.inner;
    let d = t % u.len;
    let o = t / u.len;
    let first = atomicLoad(&span[2u * d]);
    let end = atomicLoad(&span[2u * d + 1u]);
    var acc = 0.0;
    for (var k = first; k < end; k++) {
      if (index[k] == i32(d)) { acc += g[(o * u.k + k) * u.inner + i]; }
    }
    dx[j] = acc;
  }
}
