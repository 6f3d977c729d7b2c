// op: upsample_nearest2x — upsampleNearest2x (engine/ops/movement.ts)
// upsample_nearest2x (engine/ops/movement.ts: upsampleNearest2x): out[p, y, x] =
// in[p, y/2, x/2] over planes p = (n, c), on raw 32-bit words. Each invocation writes a run of
// up to PER pixels of one output row; the strided copy would carry through its
// [.., h, 2, w, 2] view every two elements, at several times the cost.
//!include index

struct Params { rows: u32, h: u32, w: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
const WG = 256u;
const PER = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_index(gid, nwg, WG);
  let w2 = 2u * u.w;
  let runs = (w2 + PER - 1u) / PER;
  let row = t / runs;                  // output row over planes × 2h
  if (row >= u.rows) { return; }
  let k0 = (t % runs) * PER;
  let plane = row / (2u * u.h);
  let y = row % (2u * u.h);
  let src = (plane * u.h + y / 2u) * u.w;
  let dst = row * w2;
  let count = min(PER, w2 - k0);
  for (var e = 0u; e < count; e++) {
    let xo = k0 + e;
    out[dst + xo] = x[src + xo / 2u];
  }
}
