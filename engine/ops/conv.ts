/**
 * conv2d (kernels/conv2d_*.wgsl): NCHW input, OIHW weight, optional bias; stride, padding
 * and dilation per axis; groups, including depthwise and channel multipliers.
 *
 * Forward is an implicit GEMM (conv2d_fwd), or a plain GEMM for 1×1 stride-1 unpadded
 * convolutions (conv2d_gemm). Backward: the input gradient is its own implicit GEMM
 * (conv2d_dx, or conv2d_gemm for 1×1), both reading the weight repacked by conv2d_pack, the weight gradient a GEMM
 * reduction over N·Ho·Wo split into slices (conv2d_dw) whose partial sums a second pass
 * adds in a fixed order (conv2d_dw_reduce); the bias gradient rides along in conv2d_dw.
 * A weight that does not require grad launches neither of the weight-gradient kernels.
 */
import { record } from '../autograd.ts';
import { grid, runtime } from '../runtime.ts';
import { fmt } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { type ConvPackCache, currentConvPacks, type DxPack } from './convPacks.ts';
import { sum } from './reduce.ts';
import { expectDtype, expectInt, expectRank } from './util.ts';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  /** symmetric zero padding per axis */
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** Geometry of one convolution; also the uniform block shared by the conv kernels. */
export interface ConvGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  ho: number;
  wo: number;
  groups: number;
  kh: number;
  kw: number;
  cin_g: number;
  cout_g: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

// The kernels' tiles (see conv_common.wgsl): a workgroup of WG invocations covers WG·TM
// positions × TN channels forward and for dx; dW tiles are DW_TM × TN channels at one tap.
const WG = 16;
const TM = 8;
const TN = 16;
const DW_TM = 16;
/** dW: slices of the N·Ho·Wo reduction hold at least this many positions... */
const DW_MIN_SLICE = 256;
/** ...and there are enough (tile, slice) workgroups to keep every core busy. */
const DW_MIN_WORKGROUPS = 64;

function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2) throw new Error(`${op}: ${name} must be a number or [h, w], got ${JSON.stringify(v)}`);
  return [expectInt(op, `${name}[0]`, p[0], min), expectInt(op, `${name}[1]`, p[1], min)];
}

/** Validates the arguments and derives the geometry (errors name expected vs actual). */
export function conv2dGeometry(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions = {}): ConvGeometry {
  const op = 'conv2d';
  expectDtype(op, 'x', x, 'float32');
  expectDtype(op, 'weight', weight, 'float32');
  if (bias) expectDtype(op, 'bias', bias, 'float32');
  expectRank(op, 'x [N,Cin,H,W]', x, 4);
  expectRank(op, 'weight [Cout,Cin/groups,kh,kw]', weight, 4);
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const groups = expectInt(op, 'groups', opts.groups ?? 1, 1);
  const [n, cin, h, w] = x.shape;
  const [cout, wcin, kh, kw] = weight.shape;
  if (cin < 1 || cout < 1 || kh < 1 || kw < 1)
    throw new Error(`${op}: channels and kernel sizes must be ≥ 1, got x ${fmt(x.shape)} and weight ${fmt(weight.shape)}`);
  if (cin % groups !== 0) throw new Error(`${op}: input channels (${cin}, x ${fmt(x.shape)}) are not divisible by groups = ${groups}`);
  if (cout % groups !== 0) throw new Error(`${op}: output channels (${cout}, weight ${fmt(weight.shape)}) are not divisible by groups = ${groups}`);
  if (wcin !== cin / groups)
    throw new Error(
      `${op}: weight must have shape [Cout, Cin/groups, kh, kw] = [${cout}, ${cin / groups}, ${kh}, ${kw}] ` +
        `for x ${fmt(x.shape)} and groups = ${groups}, got ${fmt(weight.shape)}`,
    );
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout))
    throw new Error(`${op}: bias must have shape [${cout}] (one per output channel), got ${fmt(bias.shape)}`);
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (ho < 1 || wo < 1)
    throw new Error(
      `${op}: output size ${ho}×${wo} is not positive: input ${h}×${w} with padding [${ph},${pw}] is smaller ` +
        `than the dilated kernel ${dh * (kh - 1) + 1}×${dw * (kw - 1) + 1}`,
    );
  return { n, cin, h, w, cout, ho, wo, groups, kh, kw, cin_g: cin / groups, cout_g: cout / groups, sh, sw, ph, pw, dh, dw };
}

/** Multiply-adds ×2 of the convolution; its input and weight gradients cost the same. */
export const convFlops = (g: ConvGeometry) => 2 * g.n * g.cout * g.ho * g.wo * g.cin_g * g.kh * g.kw;

const isPointwise = (g: ConvGeometry) => g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;

/** Names of the backward launches in error messages. */
const CONV_INPUT_GRAD = 'conv2d backward (input)';
const CONV_WEIGHT_GRAD = 'conv2d backward (weight)';

/** Position blocks of WG·TM folded into workgroup x and z. */
function positionGroups(positions: number): [number, number] {
  return grid(Math.ceil(positions / (WG * TM)));
}

/**
 * A 1×1 convolution's forward (c = out, b = x) or input gradient (coMajor: c = dx, b = dy)
 * as a GEMM per image and group over NCHW planes (conv2d_gemm), the weight packed first.
 */
function gemm(g: ConvGeometry, b: Tensor, weight: Tensor, bias: Tensor | null, c: Tensor, coMajor: boolean, pack: Packing): void {
  const op = coMajor ? CONV_INPUT_GRAD : 'conv2d';
  const plane = g.h * g.w;
  const [rows, depth] = coMajor ? [g.cin_g, g.cout_g] : [g.cout_g, g.cin_g];
  const rBlocks = Math.ceil(rows / TN);
  const [bx, bz] = positionGroups(g.n * plane);
  const packed = pack.get(() => packWeight(op, g, weight, coMajor, rBlocks));
  runtime().dispatch({
    op,
    kernel: 'conv2d_gemm',
    constants: { HAS_BIAS: bias !== null },
    uniforms: {
      n: g.n,
      groups: g.groups,
      rows,
      depth,
      plane,
      b_ch: depth * g.groups,
      c_ch: rows * g.groups,
      r_blocks: rBlocks,
    },
    buffers: { b: b.buffer, a: packed.buffer, bias: (bias ?? weight).buffer, c: c.buffer },
    flops: convFlops(g),
    workgroups: [bx, rBlocks * g.groups, bz],
  });
  pack.done(packed);
}

const convUniforms = (g: ConvGeometry, extra: { c_blocks: number; splits?: number; split_len?: number }) => ({
  ...g,
  splits: 1,
  split_len: 0,
  ...extra,
});

/**
 * The weight repacked for conv2d_fwd ([g][tap][ci][cout_p]) or, coMajor, conv2d_dx
 * ([g][tap][co][cin_p]): each step's 16-channel tile is then 4 consecutive vec4s.
 */
function packWeight(op: string, g: ConvGeometry, weight: Tensor, coMajor: boolean, cBlocks: number): Tensor {
  const rows = coMajor ? g.cout_g : g.cin_g;
  const packed = empty([g.groups * g.kh * g.kw * rows * cBlocks * TN]);
  runtime().dispatch({
    op,
    kernel: 'conv2d_pack',
    constants: { CO_MAJOR: coMajor },
    uniforms: convUniforms(g, { c_blocks: cBlocks }),
    buffers: { weight: weight.buffer, packed: packed.buffer },
    workgroups: grid(Math.ceil(packed.size / 64)),
  });
  return packed;
}

function forward(g: ConvGeometry, x: Tensor, weight: Tensor, bias: Tensor | null, pack: Packing): Tensor {
  const out = empty([g.n, g.cout, g.ho, g.wo]);
  if (out.size === 0) return out;
  if (isPointwise(g)) {
    gemm(g, x, weight, bias, out, false, pack);
    return out;
  }
  const cBlocks = Math.ceil(g.cout_g / TN);
  const [bx, bz] = positionGroups(g.n * g.ho * g.wo);
  const packed = pack.get(() => packWeight('conv2d', g, weight, false, cBlocks));
  runtime().dispatch({
    op: 'conv2d',
    kernel: 'conv2d_fwd',
    constants: { HAS_BIAS: bias !== null },
    uniforms: convUniforms(g, { c_blocks: cBlocks }),
    // without bias the kernel never reads `bias`, but the binding still needs a buffer
    buffers: { x: x.buffer, weight: packed.buffer, bias: (bias ?? weight).buffer, out: out.buffer },
    flops: convFlops(g),
    workgroups: [bx, cBlocks * g.groups, bz],
  });
  pack.done(packed);
  return out;
}

/** dx = the transposed convolution of dy with the weight. */
function inputGrad(g: ConvGeometry, dy: Tensor, weight: Tensor, pack: Packing): Tensor {
  const dx = empty([g.n, g.cin, g.h, g.w]);
  if (dx.size === 0) {
    pack.done(null);
    return dx;
  }
  if (isPointwise(g)) {
    gemm(g, dy, weight, null, dx, true, pack);
    return dx;
  }
  const cBlocks = Math.ceil(g.cin_g / TN);
  // The residue class (0, 0) holds the most positions; every class gets that many blocks.
  const [bx, fold] = positionGroups(g.n * Math.ceil(g.h / g.sh) * Math.ceil(g.w / g.sw));
  const packed = pack.get(() => packWeight(CONV_INPUT_GRAD, g, weight, true, cBlocks));
  runtime().dispatch({
    op: CONV_INPUT_GRAD,
    kernel: 'conv2d_dx',
    uniforms: convUniforms(g, { c_blocks: cBlocks }),
    buffers: { dy: dy.buffer, weight: packed.buffer, dx: dx.buffer },
    flops: convFlops(g),
    workgroups: [bx, cBlocks * g.groups, fold * g.sh * g.sw],
  });
  pack.done(packed);
  return dx;
}

/**
 * Whether conv2d_dw tiles the flattened (input channel, tap) axis instead of channels at
 * one tap (FOLD_TAPS): when that fills at least 1.5× as many of a tile's TN columns, as for
 * the 3-channel stem (27 of 32 columns against 3 of 16). Each folded column gathers its own
 * pixel, so it only pays where most channel lanes would idle.
 */
export function dwFoldsTaps(g: ConvGeometry): boolean {
  const khw = g.kh * g.kw;
  if (khw === 1) return false;
  const used = (columns: number) => columns / (Math.ceil(columns / TN) * TN);
  return used(g.cin_g * khw) >= 1.5 * used(g.cin_g);
}

/** How conv2d_dw splits the N·Ho·Wo reduction: slices of WG-multiple length. */
export function dwSplit(g: ConvGeometry, foldTaps = dwFoldsTaps(g)): { tiles: number; splits: number; splitLen: number } {
  const tiles = foldTaps
    ? g.groups * Math.ceil(g.cout_g / DW_TM) * Math.ceil((g.cin_g * g.kh * g.kw) / TN)
    : g.groups * Math.ceil(g.cout_g / DW_TM) * g.kh * g.kw * Math.ceil(g.cin_g / TN);
  const positions = g.n * g.ho * g.wo;
  const wanted = Math.max(1, Math.ceil(DW_MIN_WORKGROUPS / tiles));
  const most = Math.max(1, Math.floor(positions / DW_MIN_SLICE));
  const splitLen = Math.ceil(positions / Math.min(wanted, most) / WG) * WG;
  return { tiles, splits: Math.ceil(positions / splitLen), splitLen };
}

/** dw (and db when `withBias`): the GEMM reduction over positions, then the slice sum. */
function weightGrad(g: ConvGeometry, dy: Tensor, x: Tensor, withBias: boolean, foldTaps = dwFoldsTaps(g)): [Tensor, Tensor | null] {
  const rt = runtime();
  const dw = empty([g.cout, g.cin_g, g.kh, g.kw]);
  const db = withBias ? empty([g.cout]) : null;
  const { tiles, splits, splitLen } = dwSplit(g, foldTaps);
  const columns = foldTaps ? g.cin_g * g.kh * g.kw : g.cin_g;
  const direct = splits === 1 && !withBias; // one slice, no bias: the partial sum is dw itself
  const part = direct ? dw : empty([splits * (dw.size + (withBias ? g.cout : 0))]);
  rt.dispatch({
    op: CONV_WEIGHT_GRAD,
    kernel: 'conv2d_dw',
    constants: { HAS_BIAS: withBias, FOLD_TAPS: foldTaps },
    uniforms: convUniforms(g, { c_blocks: Math.ceil(columns / TN), splits, split_len: splitLen }),
    buffers: { dy: dy.buffer, x: x.buffer, part: part.buffer },
    flops: convFlops(g),
    workgroups: grid(tiles * splits),
  });
  if (!direct) {
    // db needs a buffer of its own even when unused: two writable bindings may not alias.
    const dbBuf = db ?? empty([1]);
    rt.dispatch({
      op: CONV_WEIGHT_GRAD,
      kernel: 'conv2d_dw_reduce',
      constants: { HAS_BIAS: withBias },
      uniforms: convUniforms(g, { c_blocks: 0, splits, split_len: splitLen }),
      buffers: { part: part.buffer, dw: dw.buffer, db: dbBuf.buffer },
      workgroups: grid(Math.ceil((dw.size + (withBias ? g.cout : 0)) / 64)),
    });
    part.dispose();
    if (!db) dbBuf.dispose();
  }
  return [dw, db];
}

/**
 * conv2d's weight (and bias) gradient for the upstream gradient `dy`, with conv2d_dw's
 * tiling pinned (`foldTaps`) rather than chosen by dwFoldsTaps: how tests check each path
 * against the other and against the reference.
 */
export function conv2dWeightGrad(
  x: Tensor,
  weight: Tensor,
  dy: Tensor,
  opts: Conv2dOptions & { bias?: boolean; foldTaps?: boolean } = {},
): [Tensor, Tensor | null] {
  const g = conv2dGeometry(x, weight, null, opts);
  if (dy.rank !== 4 || dy.shape[0] !== g.n || dy.shape[1] !== g.cout || dy.shape[2] !== g.ho || dy.shape[3] !== g.wo)
    throw new Error(`conv2dWeightGrad: dy must have shape [${g.n}, ${g.cout}, ${g.ho}, ${g.wo}], got ${fmt(dy.shape)}`);
  return weightGrad(g, dy, x, opts.bias ?? false, opts.foldTaps ?? dwFoldsTaps(g));
}

/**
 * 2-D convolution (cross-correlation, as PyTorch's conv2d). x [N,Cin,H,W], weight
 * [Cout,Cin/groups,kh,kw], bias [Cout] or none; stride, padding, dilation as a number or
 * [h, w]. Output [N, Cout, Ho, Wo] with Ho = ⌊(H + 2·ph − dh·(kh−1) − 1)/sh⌋ + 1.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x, weight, bias, opts);
  const cache = currentConvPacks();
  // the packed layout depends on the weight's shape (fixed) and the group count
  const layout = `${g.groups}`;
  const out = forward(g, x, weight, bias ?? null, cache ? sharedForwardPack(cache, weight, layout) : OWN_PACK);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const recorded = record('conv2d', inputs, out, (dy, needs) => {
    const dx = needs[0] ? inputGrad(g, dy, weight, dxEntry && cache ? sharedDxPack(cache, dxEntry) : OWN_PACK) : null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[1]) [dw, db] = weightGrad(g, dy, x, !!bias && needs[2]);
    else if (bias && needs[2]) db = sum(dy, [0, 2, 3]); // frozen weight: no dW kernel at all
    return bias ? [dx, dw, db] : [dx, dw];
  });
  // reserved only when this conv will want dx: a backward that never comes makes no pack
  const dxEntry: DxPack | null = cache && recorded.gradFn && x.requiresGrad ? cache.reserveDx(weight, layout) : null;
  return recorded;
}

/**
 * Where a launch gets its packed weight and what it does with it after the dispatch:
 * its own (disposed at once), or one shared through a ConvPackCache (convPacks.ts).
 */
interface Packing {
  get(make: () => Tensor): Tensor;
  /** after the dispatch (null: nothing was dispatched) */
  done(packed: Tensor | null): void;
}

const OWN_PACK: Packing = { get: (make) => make(), done: (packed) => packed?.dispose() };

const sharedForwardPack = (cache: ConvPackCache, weight: Tensor, layout: string): Packing => ({
  get: (make) => cache.forward(weight, layout, make),
  done: () => {}, // freed when the forward pass ends
});

const sharedDxPack = (cache: ConvPackCache, entry: DxPack): Packing => ({
  get: (make) => cache.useDx(entry, make),
  done: () => cache.releaseDx(entry),
});
