// Workgroup-tree reductions of one f32 per invocation, for kernels that give a workgroup
// one row. Each call holds workgroupBarrier()s, so call it from uniform control flow:
// every invocation of the workgroup, no early return before it. Use
// @workgroup_size(TREE_WG).

const TREE_WG = 256u;
var<workgroup> tree: array<f32, TREE_WG>;

// The reduced value, returned to every invocation. The last barrier keeps a following
// call from overwriting `tree` before everyone has read the result.
fn tree_sum(v: f32, lid: u32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var s = TREE_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] += tree[lid + s]; }
    workgroupBarrier();
  }
  let total = tree[0];
  workgroupBarrier();
  return total;
}

fn tree_max(v: f32, lid: u32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var s = TREE_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] = max(tree[lid], tree[lid + s]); }
    workgroupBarrier();
  }
  let m = tree[0];
  workgroupBarrier();
  return m;
}

var<workgroup> tree_k: array<u32, TREE_WG>;

// The k that goes with the largest v (the smallest such k on ties), returned to every
// invocation. Each invocation brings its own best (v, k).
fn tree_argmax(v: f32, k: u32, lid: u32) -> u32 {
  tree[lid] = v;
  tree_k[lid] = k;
  workgroupBarrier();
  for (var s = TREE_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = tree[lid + s];
      let ok = tree_k[lid + s];
      if (ov > tree[lid] || (ov == tree[lid] && ok < tree_k[lid])) {
        tree[lid] = ov;
        tree_k[lid] = ok;
      }
    }
    workgroupBarrier();
  }
  let best = tree_k[0];
  workgroupBarrier();
  return best;
}
