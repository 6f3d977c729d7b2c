// used by: AdamW (engine/optim/optimizer.ts)
// One fused AdamW step (decoupled weight decay, PyTorch semantics), in place, over the
// elements [offset, offset + n) of the optimizer's flat arenas:
//   p *= 1 - lr·wd;  m = b1·m + (1-b1)·g;  v = b2·v + (1-b2)·g²
//   p -= lr · (m / c1) / (sqrt(v / c2) + eps)   with bias corrections c1, c2 from the CPU
//!include index

struct Params { offset: u32, n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, c1: f32, c2: f32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;
const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = flat_index(gid, nwg, WG);
  if (k >= u.n) { return; }
  let i = u.offset + k;
  let g = grad[i] * grad_scale[0];
  let m = u.beta1 * m1[i] + (1.0 - u.beta1) * g;
  let v = u.beta2 * m2[i] + (1.0 - u.beta2) * g * g;
  m1[i] = m;
  m2[i] = v;
  let p = param[i] * (1.0 - u.lr * u.weight_decay);
  param[i] = p - u.lr * (m / u.c1) / (sqrt(v / u.c2) + u.eps);
}
