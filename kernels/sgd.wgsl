// used by: SGD (engine/optim/optimizer.ts)
// One fused SGD step (PyTorch semantics), in place, over the elements [offset, offset + n)
// of the optimizer's flat arenas:
//   d = g·s + wd·p;  buf = momentum·buf + d;  p -= lr·buf
// (buf starts at zero, so the first step gives torch's buf = d exactly)
// s is a GPU scalar (gradient-norm clipping factor, 1 when not clipping), read here so
// clipping needs no readback.
//!include index

struct Params { offset: u32, n: u32, lr: f32, momentum: f32, weight_decay: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(4) var<storage, read> grad_scale: array<f32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = flat_index(gid, nwg, WG);
  if (k >= u.n) { return; }
  let i = u.offset + k;
  let p = param[i];
  let d = grad[i] * grad_scale[0] + u.weight_decay * p;
  let v = u.momentum * velocity[i] + d;
  velocity[i] = v;
  param[i] = p - u.lr * v;
}
