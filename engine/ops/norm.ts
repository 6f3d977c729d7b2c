/**
 * Group normalisation (kernels/group_norm_fwd.wgsl, group_norm_bwd.wgsl,
 * group_norm_param_grad.wgsl), with an optional fused ReLU: conv → GN → ReLU is every
 * block of a detector head, and fusing it saves a full read and write of the activation.
 *
 * The forward saves (shift, mean of x − shift, rstd) per (n, group) for the backward; the
 * backward computes dx in one kernel that also leaves per-(n, channel) sums behind, and
 * reduces those over n into dγ and dβ only when the parameters require grad.
 */
import { record } from '../autograd.ts';
import { grid, runtime } from '../runtime.ts';
import { fmt, sameShape } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { full } from './creation.ts';
import { elementwiseGroups, expectDtype, expectInt } from './util.ts';

/** Workgroup size of the group-norm kernels (const WG in kernels/lib/norm_common.wgsl). */
const GN_WG = 8;
/** Workgroup size of group_norm_param_grad.wgsl (one invocation per channel). */
const PARAM_GRAD_WG = 64;

export interface GroupNormOptions {
  /** added to the variance (default 1e-5, as PyTorch) */
  eps?: number;
  /** apply ReLU to the output (default false) */
  relu?: boolean;
}

/** Launch geometry shared by the forward and backward kernels. */
function geometry(x: Tensor, numGroups: number) {
  const [n, c] = x.shape;
  const spatial = x.size / Math.max(1, n * c);
  const cpg = c / numGroups;
  // Four floats a memory access when every channel starts on a 16-byte boundary.
  const vec4 = spatial % 4 === 0;
  const units = vec4 ? spatial / 4 : spatial;
  // Lanes per channel: the whole workgroup when a channel fills it, else the power of two
  // just above its unit count, so several channels share a round (3×3 maps, rank-2 inputs).
  const tShift = Math.min(Math.log2(GN_WG), Math.ceil(Math.log2(Math.max(1, units))));
  const teams = GN_WG >> tShift;
  return {
    batch: n,
    channels: c,
    vec4,
    uniforms: {
      n_groups: n * numGroups,
      groups: numGroups,
      cpg,
      spatial,
      t_shift: tShift,
      rounds: Math.ceil(cpg / teams),
    },
    workgroups: grid(n * numGroups),
  };
}

/**
 * Group norm over x [N, C, ...] (any rank ≥ 2; trailing dims are the spatial extent):
 * each sample's channels are split into `numGroups` groups normalised to zero mean and
 * unit (biased) variance, then scaled by weight [C] and shifted by bias [C] (absent: 1
 * and 0), and passed through ReLU when `relu` is set.
 */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  { eps = 1e-5, relu = false }: GroupNormOptions = {},
): Tensor {
  const op = 'groupNorm';
  expectDtype(op, 'x', x, 'float32');
  if (x.rank < 2) throw new Error(`${op}: x must have rank ≥ 2 [N, C, ...], got shape ${fmt(x.shape)}`);
  expectInt(op, 'numGroups', numGroups, 1);
  const c = x.shape[1];
  if (c % numGroups !== 0) throw new Error(`${op}: the channel count C = ${c} of x ${fmt(x.shape)} is not divisible by numGroups = ${numGroups}`);
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (!p) continue;
    expectDtype(op, name, p, 'float32');
    if (!sameShape(p.shape, [c])) throw new Error(`${op}: ${name} must have shape [${c}] (one per channel of x), got ${fmt(p.shape)}`);
  }
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${op}: eps must be a finite number ≥ 0, got ${eps}`);

  const out = empty(x.shape);
  if (x.size === 0) {
    // nothing to normalise: dγ and dβ are empty sums
    const params = [weight, bias].filter((p): p is Tensor => !!p);
    return record('group_norm', [x, ...params], out, (_g, needs) => [
      needs[0] ? empty(x.shape) : null,
      ...params.map((p, k) => (needs[k + 1] ? full(p.shape, 0) : null)),
    ]);
  }

  // Absent parameters act as 1 and 0; the kernel always reads both.
  const w = weight ?? full([c], 1);
  const b = bias ?? full([c], 0);
  const geo = geometry(x, numGroups);
  const stats = empty([geo.uniforms.n_groups, 4]);
  const rt = runtime();
  rt.dispatch({
    op: 'group_norm',
    kernel: 'group_norm_fwd',
    constants: { RELU: relu, VEC4: geo.vec4 },
    uniforms: { ...geo.uniforms, eps },
    buffers: { x: x.buffer, weight: w.buffer, bias: b.buffer, out: out.buffer, stats: stats.buffer },
    workgroups: geo.workgroups,
  });

  const inputs = [x, w, b];
  const result = record('group_norm', inputs, out, (g, needs) => {
    const dx = empty(x.shape);
    const psums = empty([geo.batch, geo.channels, 2]);
    rt.dispatch({
      op: 'group_norm backward',
      kernel: 'group_norm_bwd',
      constants: { RELU: relu, VEC4: geo.vec4 },
      uniforms: { ...geo.uniforms, eps },
      buffers: {
        x: x.buffer,
        grad: g.buffer,
        weight: w.buffer,
        y: relu ? out.buffer : x.buffer,
        stats: stats.buffer,
        dx: dx.buffer,
        psums: psums.buffer,
      },
      workgroups: geo.workgroups,
    });
    // Frozen parameters (the teacher tail of CrossKD) cost no kernel beyond dx. An absent
    // weight or bias is an internal constant that never requires grad.
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[1] || needs[2]) {
      dw = empty([geo.channels]);
      db = empty([geo.channels]);
      rt.dispatch({
        op: 'group_norm backward',
        kernel: 'group_norm_param_grad',
        uniforms: { batch: geo.batch, channels: geo.channels },
        buffers: { psums: psums.buffer, dweight: dw.buffer, dbias: db.buffer },
        workgroups: grid(Math.ceil(geo.channels / PARAM_GRAD_WG)),
      });
    }
    return [needs[0] ? dx : null, needs[1] ? dw : null, needs[2] ? db : null];
  });
  // The internal tensors live as long as the tape needs them; without a tape, free them now.
  if (!result.gradFn) {
    stats.dispose();
    if (!weight) w.dispose();
    if (!bias) b.dispose();
  }
  return result;
}

export interface BatchNormOptions {
  /** normalise with the batch's statistics (true) or the running statistics (false, the default, as PyTorch's functional form) */
  training?: boolean;
  /** weight of the batch in the running-statistics update (default 0.1, as PyTorch) */
  momentum?: number;
  /** added to the variance (default 1e-5) */
  eps?: number;
  /** apply ReLU to the output (default false): conv → BN → ReLU is every ResNet block's */
  relu?: boolean;
  /**
   * an int32 scalar counting the training batches (PyTorch's num_batches_tracked): a
   * training forward that updates the running statistics adds one, in stream order
   */
  numBatchesTracked?: Tensor | null;
}

/**
 * Batch norm over x [N, C, ...] (rank ≥ 2), as torch.nn.functional.batch_norm (kernels/
 * batch_norm_stats.wgsl, batch_norm_fwd.wgsl, batch_norm_grad_stats.wgsl, batch_norm_bwd.wgsl).
 * Training mode normalises each channel over N and the spatial extent with the batch's
 * biased variance and, when the running tensors are given, updates them in place
 * (running ← (1 − momentum)·running + momentum·batch, unbiased variance); eval mode
 * normalises with runningMean/runningVar, which it requires. Then weight [C] and bias [C]
 * (absent: 1 and 0) and the optional ReLU. Gradients reach x, weight and bias; the running
 * statistics are state, not inputs of the graph.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight?: Tensor | null,
  bias?: Tensor | null,
  { training = false, momentum = 0.1, eps = 1e-5, relu = false, numBatchesTracked = null }: BatchNormOptions = {},
): Tensor {
  const op = 'batchNorm';
  expectDtype(op, 'x', x, 'float32');
  if (x.rank < 2) throw new Error(`${op}: x must have rank ≥ 2 [N, C, ...], got shape ${fmt(x.shape)}`);
  const [n, c] = x.shape;
  const spatial = x.size / Math.max(1, n * c);
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    if (!p) continue;
    expectDtype(op, name, p, 'float32');
    if (!sameShape(p.shape, [c])) throw new Error(`${op}: ${name} must have shape [${c}] (one per channel of x), got ${fmt(p.shape)}`);
  }
  for (const [name, p] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const)
    if (p?.requiresGrad) throw new Error(`${op}: ${name} is running state updated in place and must not require grad`);
  if (!runningMean !== !runningVar) throw new Error(`${op}: runningMean and runningVar go together, got ${runningMean ? 'runningMean' : 'runningVar'} alone`);
  if (typeof training !== 'boolean') throw new Error(`${op}: training must be a boolean, got ${String(training)}`);
  if (!training && !runningMean) throw new Error(`${op}: eval mode (training = false) needs runningMean and runningVar`);
  if (training && x.size > 0 && n * spatial < 2) throw new Error(`${op}: training mode needs more than one value per channel, x has shape ${fmt(x.shape)}`);
  if (numBatchesTracked && (numBatchesTracked.dtype !== 'int32' || numBatchesTracked.size !== 1))
    throw new Error(`${op}: numBatchesTracked must be an int32 scalar, got ${numBatchesTracked.dtype} ${fmt(numBatchesTracked.shape)}`);
  if (numBatchesTracked && !runningMean) throw new Error(`${op}: numBatchesTracked counts running-statistics updates and needs runningMean and runningVar`);
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) throw new Error(`${op}: momentum must be a number in [0, 1], got ${momentum}`);
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${op}: eps must be a finite number ≥ 0, got ${eps}`);

  const out = empty(x.shape);
  const params = [weight, bias].filter((p): p is Tensor => !!p);
  if (x.size === 0)
    return record('batch_norm', [x, ...params], out, (_g, needs) => [
      needs[0] ? empty(x.shape) : null,
      ...params.map((p, k) => (needs[k + 1] ? full(p.shape, 0) : null)),
    ]);

  const rt = runtime();
  const vec4 = spatial % 4 === 0;
  const units = vec4 ? x.size / 4 : x.size;
  const plane = vec4 ? spatial / 4 : spatial;
  // Absent parameters act as 1 and 0; absent running state is scratch that the kernel
  // does not write (it always binds all of it).
  const w = weight ?? full([c], 1);
  const b = bias ?? full([c], 0);
  const scratch: Tensor[] = [];
  const orScratch = (t: Tensor | null, make: () => Tensor) => t ?? scratch[scratch.push(make()) - 1];
  const rm = orScratch(runningMean, () => full([c], 0));
  const rv = orScratch(runningVar, () => full([c], 1));
  const batches = orScratch(numBatchesTracked, () => empty([], 'int32'));
  const stats = empty([c, 4]);
  rt.dispatch({
    op: 'batch_norm',
    kernel: 'batch_norm_stats',
    constants: { EVAL: !training, UPDATE_RUNNING: training && !!runningMean, VEC4: vec4 },
    uniforms: { batch: n, channels: c, spatial, momentum, eps },
    buffers: { x: x.buffer, running_mean: rm.buffer, running_var: rv.buffer, num_batches: batches.buffer, stats: stats.buffer },
    workgroups: grid(c),
  });
  rt.dispatch({
    op: 'batch_norm',
    kernel: 'batch_norm_fwd',
    constants: { RELU: relu, VEC4: vec4 },
    uniforms: { units, plane, channels: c },
    buffers: { x: x.buffer, weight: w.buffer, bias: b.buffer, stats: stats.buffer, out: out.buffer },
    workgroups: elementwiseGroups(units),
  });
  scratch.forEach((t) => t.dispose());

  const result = record('batch_norm', [x, w, b], out, (g, needs) => {
    // Σg and Σg·x̂ are dβ and dγ; training mode's dx needs them too, eval mode's does not.
    const sums = training || needs[1] || needs[2];
    const db = sums ? empty([c]) : null;
    const dw = sums ? empty([c]) : null;
    const mask = relu ? out.buffer : x.buffer;
    if (db && dw)
      rt.dispatch({
        op: 'batch_norm backward',
        kernel: 'batch_norm_grad_stats',
        constants: { RELU: relu, VEC4: vec4 },
        uniforms: { batch: n, channels: c, spatial },
        buffers: { x: x.buffer, grad: g.buffer, y: mask, stats: stats.buffer, dweight: dw.buffer, dbias: db.buffer },
        workgroups: grid(c),
      });
    let dx: Tensor | null = null;
    if (needs[0]) {
      dx = empty(x.shape);
      rt.dispatch({
        op: 'batch_norm backward',
        kernel: 'batch_norm_bwd',
        constants: { RELU: relu, VEC4: vec4, EVAL: !training },
        uniforms: { units, plane, channels: c, count: n * spatial, eps },
        buffers: {
          x: x.buffer,
          grad: g.buffer,
          y: mask,
          weight: w.buffer,
          stats: stats.buffer,
          sum_g: (db ?? stats).buffer,
          sum_gx: (dw ?? stats).buffer,
          dx: dx.buffer,
        },
        workgroups: elementwiseGroups(units),
      });
    }
    if (!needs[1]) dw?.dispose();
    if (!needs[2]) db?.dispose();
    return [dx, needs[1] ? dw : null, needs[2] ? db : null];
  });
  if (!result.gradFn) {
    stats.dispose();
    if (!weight) w.dispose();
    if (!bias) b.dispose();
  }
  return result;
}
