/**
 * Float64 references for the tests of the ATSS, RetinaNet and FCOS heads, composed from the
 * engine's reference ops (engine/reference/losses.ts):
 * - RefTape: a small reverse-mode tape over RefTensors (conv2d, group_norm, ReLU, Scale,
 *   exp), so a whole head's outputs and every parameter gradient come from the reference
 *   ops' own vjps;
 * - referenceHead: a head's outputs per level, written out as mmdetection computes them;
 * - the box codings, BCE and centerness targets as plain float64 formulas, for the loss
 *   and KD references (which the tests differentiate by central differences).
 */
import * as E from '../../../engine/index.ts';
import { diff } from '../../../engine/checks/compare.ts';
import { Rng } from '../../../engine/random.ts';
import { referenceOps as R } from '../../../engine/reference/index.ts';
import type { RefTensor } from '../../../engine/reference/types.ts';
import type { PriorTensors } from '../../../detection/heads/dense.ts';
import type { DenseTargets } from '../../../detection/heads/gflTargets.ts';
import { AnchorGenerator, PointGenerator } from '../../../detection/priors.ts';

export type Params = Map<string, RefTensor>;

const CONV3 = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };

const zerosLike = (t: RefTensor) => new Float64Array(t.data.length);

/** Reverse-mode differentiation of a float64 composition of reference ops. */
export class RefTape {
  private readonly nodes: { out: RefTensor; back: (g: Float64Array) => void }[] = [];
  private readonly grads = new Map<RefTensor, Float64Array>();

  private record(out: RefTensor, back: (g: Float64Array) => void): RefTensor {
    this.nodes.push({ out, back });
    return out;
  }

  private addGrad(t: RefTensor, g: RefTensor | Float64Array | null | undefined): void {
    if (!g) return;
    const data = g instanceof Float64Array ? g : g.data;
    const acc = this.grads.get(t);
    if (acc) data.forEach((v, i) => (acc[i] += v));
    else this.grads.set(t, Float64Array.from(data));
  }

  /** d(Σ seeds·outputs)/dt after backward(); zeros when t did not take part. */
  gradOf(t: RefTensor): Float64Array {
    return this.grads.get(t) ?? zerosLike(t);
  }

  backward(seeds: [RefTensor, Float64Array][]): void {
    for (const [t, g] of seeds) this.addGrad(t, g);
    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const g = this.grads.get(this.nodes[k].out);
      if (g) this.nodes[k].back(g);
    }
  }

  conv(x: RefTensor, weight: RefTensor, bias?: RefTensor): RefTensor {
    const inputs: Record<string, RefTensor> = bias ? { x, weight, bias } : { x, weight };
    const out = R.conv2d.forward(inputs, CONV3).out;
    return this.record(out, (g) => {
      const v = R.conv2d.vjp(inputs, CONV3, { out: { shape: out.shape, data: g } });
      this.addGrad(x, v.x);
      this.addGrad(weight, v.weight);
      if (bias) this.addGrad(bias, v.bias);
    });
  }

  /** GroupNorm with the ReLU fused, as ConvModule's norm + activation. */
  gnRelu(x: RefTensor, weight: RefTensor, bias: RefTensor, groups: number): RefTensor {
    const inputs = { x, weight, bias };
    const attrs = { num_groups: groups, eps: 1e-5, relu: true };
    const out = R.group_norm.forward(inputs, attrs).out;
    return this.record(out, (g) => {
      const v = R.group_norm.vjp(inputs, attrs, { out: { shape: out.shape, data: g } });
      this.addGrad(x, v.x);
      this.addGrad(weight, v.weight);
      this.addGrad(bias, v.bias);
    });
  }

  relu(x: RefTensor): RefTensor {
    const out = { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
    return this.record(out, (g) =>
      this.addGrad(
        x,
        Float64Array.from(g, (gi, i) => (x.data[i] > 0 ? gi : 0)),
      ),
    );
  }

  /** x times a one-element parameter (mmcv's Scale). */
  scale(x: RefTensor, s: RefTensor): RefTensor {
    const out = { shape: x.shape, data: x.data.map((v) => v * s.data[0]) };
    return this.record(out, (g) => {
      this.addGrad(
        x,
        Float64Array.from(g, (gi) => gi * s.data[0]),
      );
      this.addGrad(s, Float64Array.of(g.reduce((a, gi, i) => a + gi * x.data[i], 0)));
    });
  }

  exp(x: RefTensor): RefTensor {
    const out = { shape: x.shape, data: x.data.map(Math.exp) };
    return this.record(out, (g) =>
      this.addGrad(
        x,
        Float64Array.from(g, (gi, i) => gi * out.data[i]),
      ),
    );
  }
}

export type HeadKind = 'atss' | 'retina' | 'fcos';

/** What a reference head needs to know of its configuration. */
export interface RefHeadConfig {
  kind: HeadKind;
  stackedConvs: number;
  /** null: conv with bias then ReLU (RetinaNet) */
  gnGroups: number | null;
}

/** Names of each head's predictors (mmdetection's). */
export const PREDICTORS: Record<HeadKind, { cls: string; reg: string; centerness?: string }> = {
  atss: { cls: 'atss_cls', reg: 'atss_reg', centerness: 'atss_centerness' },
  retina: { cls: 'retina_cls', reg: 'retina_reg' },
  fcos: { cls: 'conv_cls', reg: 'conv_reg', centerness: 'conv_centerness' },
};

/** One tower block: conv (+bias without norm) → GroupNorm+ReLU, or → ReLU. */
export function refBlock(tape: RefTape, x: RefTensor, p: Params, tower: string, i: number, cfg: RefHeadConfig): RefTensor {
  const name = `${tower}.${i}`;
  if (cfg.gnGroups === null) return tape.relu(tape.conv(x, p.get(`${name}.conv.weight`)!, p.get(`${name}.conv.bias`)!));
  return tape.gnRelu(tape.conv(x, p.get(`${name}.conv.weight`)!), p.get(`${name}.gn.weight`)!, p.get(`${name}.gn.bias`)!, cfg.gnGroups);
}

export interface RefLevelOutputs {
  cls: RefTensor;
  reg: RefTensor;
  centerness?: RefTensor;
}

/**
 * A head's outputs at one level from the towers' block `from` on, as mmdetection writes
 * them: ATSS reg = Scale(atss_reg(reg)), centerness from the reg tower; RetinaNet no
 * Scale; FCOS reg = exp(Scale(conv_reg(reg))), centerness from the cls tower.
 */
export function referenceHead(tape: RefTape, clsIn: RefTensor, regIn: RefTensor, p: Params, cfg: RefHeadConfig, level: number, from = 0): RefLevelOutputs {
  let c = clsIn;
  let r = regIn;
  for (let i = from; i < cfg.stackedConvs; i++) {
    c = refBlock(tape, c, p, 'cls_convs', i, cfg);
    r = refBlock(tape, r, p, 'reg_convs', i, cfg);
  }
  const names = PREDICTORS[cfg.kind];
  const pred = (x: RefTensor, name: string) => tape.conv(x, p.get(`${name}.weight`)!, p.get(`${name}.bias`)!);
  const cls = pred(c, names.cls);
  const raw = pred(r, names.reg);
  if (cfg.kind === 'retina') return { cls, reg: raw };
  const scaled = tape.scale(raw, p.get(`scales.${level}.scale`)!);
  if (cfg.kind === 'atss') return { cls, reg: scaled, centerness: pred(r, names.centerness!) };
  return { cls, reg: tape.exp(scaled), centerness: pred(c, names.centerness!) };
}

/** float64 copies of a module's parameters, by name. */
export async function paramsOf(module: { namedParameters(): [string, E.Tensor][] }): Promise<Params> {
  const out: Params = new Map();
  for (const [name, p] of module.namedParameters()) out.set(name, { shape: [...p.shape], data: Float64Array.from(await p.data()) });
  return out;
}

/** Away from the init (whose tiny weights make every path nearly linear). */
export function randomizeParams(module: { namedParameters(): [string, E.Tensor][] }, seed: number, spread = 0.4): void {
  const rng = new Rng(seed);
  for (const [name, p] of module.namedParameters()) {
    const data = name.includes('gn.weight') || name.startsWith('scales') ? rng.normal(p.size, 1, 0.2) : rng.normal(p.size, 0, spread);
    E.runtime().flush();
    E.runtime().write(p.buffer, Float32Array.from(data));
  }
}

export const f64 = async (t: E.Tensor): Promise<RefTensor> => ({ shape: [...t.shape], data: Float64Array.from(await t.data()) });

/** [N, A·K, H, W] maps of the levels → rows [N·Σ(H·W)·A, K] in prior order (image, level, y, x, anchor). */
export function rowsOf(levels: readonly RefTensor[], K: number): Float64Array {
  const N = levels[0].shape[0];
  const out: number[] = [];
  for (let n = 0; n < N; n++)
    for (const t of levels) {
      const [, ch, h, w] = t.shape;
      const A = ch / K;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) for (let a = 0; a < A; a++) for (let k = 0; k < K; k++) out.push(t.data[((n * ch + a * K + k) * h + y) * w + x]);
    }
  return Float64Array.from(out);
}

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** BCE with logits, docs/crosskd.md §3's stable form. */
export const bce = (x: number, t: number): number => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** DeltaXYWH decoding of one anchor (means 0, the dw/dh clamp of |ln(16/1000)|). */
export function decodeDelta(anchor: ArrayLike<number>, d: ArrayLike<number>, stds: readonly number[]): number[] {
  const [pw, ph] = [anchor[2] - anchor[0], anchor[3] - anchor[1]];
  const [px, py] = [(anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2];
  const lim = Math.abs(Math.log(16 / 1000));
  const clampLog = (v: number) => Math.min(Math.max(v, -lim), lim);
  const [gx, gy] = [px + pw * d[0] * stds[0], py + ph * d[1] * stds[1]];
  const [gw, gh] = [pw * Math.exp(clampLog(d[2] * stds[2])), ph * Math.exp(clampLog(d[3] * stds[3]))];
  return [gx - gw / 2, gy - gh / 2, gx + gw / 2, gy + gh / 2];
}

/** Box of a point and its (l, t, r, b) distances. */
export const decodeDistance = (p: ArrayLike<number>, d: ArrayLike<number>): number[] => [p[0] - d[0], p[1] - d[1], p[0] + d[2], p[1] + d[3]];

/** The GIoU (iouLog false) or IoU-log loss of aligned boxes, per pair, from the reference ops. */
export function boxLossRows(a: number[][], b: number[][], iouLog: boolean): Float64Array {
  const op = iouLog ? R.iou_loss : R.generalized_box_iou_loss;
  return op.forward(
    { boxes1: { shape: [a.length, 4], data: Float64Array.from(a.flat()) }, boxes2: { shape: [b.length, 4], data: Float64Array.from(b.flat()) } },
    { eps: 1e-6, reduction: 'none' },
  ).loss.data;
}

/** Sigmoid focal loss per element (α 0.25, γ 2) from the reference op. */
export function focalElems(logits: Float64Array, targets: Float64Array): Float64Array {
  const shape = [logits.length];
  return R.sigmoid_focal_loss.forward({ logits: { shape, data: logits }, targets: { shape, data: targets } }, { alpha: 0.25, gamma: 2, reduction: 'none' }).loss
    .data;
}

/** KD-QFL (β 1) per row, summed over the classes, from the reference op. */
export function kdQflRows(pred: Float64Array, teacherLogits: Float64Array, C: number): Float64Array {
  const shape = [pred.length / C, C];
  return R.kd_quality_focal_loss.forward(
    { pred: { shape, data: pred }, soft_target: { shape, data: teacherLogits.map(sigmoid) } },
    { beta: 1, class_reduction: 'sum' },
  ).loss.data;
}

/**
 * Central differences of f over the float64 values `ref` (perturbed in place and
 * restored), against a GPU gradient: max|gpu − fd| / max|fd|.
 */
export async function fdRelativeError(f: () => number, got: E.Tensor, ref: Float64Array, h = 1e-6): Promise<number> {
  const g = await got.data();
  const numeric = Float64Array.from(ref, (_, i) => {
    const v = ref[i];
    const step = h * Math.max(1, Math.abs(v));
    ref[i] = v + step;
    const up = f();
    ref[i] = v - step;
    const down = f();
    ref[i] = v;
    return (up - down) / (2 * step);
  });
  return diff(g, numeric).rel;
}

// ------------------------------------------------------------ a one-level test grid

/** Two images of one 2×3 level at stride 8: the grid of the loss and KD tests. */
export const GRID = { N: 2, H: 2, W: 3, STRIDE: 8 } as const;

/** Centerness of a point in a box, written out (the ATSS/FCOS target). */
export function centernessOf(x: number, y: number, b: ArrayLike<number>): number {
  const [l, t, r, bt] = [x - b[0], y - b[1], b[2] - x, b[3] - y];
  return Math.sqrt((Math.min(l, r) / Math.max(l, r)) * (Math.min(t, bt) / Math.max(t, bt)));
}

/** The anchor box of the given size centred at location k of the grid (anchor centres at x·stride). */
export const anchorAt = (k: number, w = 32, h = 32): number[] => {
  const [cx, cy] = [(k % GRID.W) * GRID.STRIDE, Math.floor(k / GRID.W) * GRID.STRIDE];
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
};
/** The FCOS point of location k (cell centre). */
export const pointAt = (k: number): number[] => [((k % GRID.W) + 0.5) * GRID.STRIDE, (Math.floor(k / GRID.W) + 0.5) * GRID.STRIDE];

export interface HandPositive {
  /** row in the N·P flattening */
  row: number;
  /** its anchor box or point, pixels */
  prior: number[];
  gt: number[];
  label: number;
}

/**
 * Targets of the grid with A priors per location: the given positives, label weight 0 at
 * `ignored`, every other prior background.
 */
export function gridTargets(C: number, A: number, dim: 4 | 2, positives: HandPositive[], ignored: number[], avgFactor: number): DenseTargets {
  const NP = GRID.N * GRID.H * GRID.W * A;
  const labels = new Int32Array(NP).fill(C);
  const labelWeights = new Float32Array(NP).fill(1);
  for (const r of ignored) labelWeights[r] = 0;
  for (const p of positives) labels[p.row] = p.label;
  const centre = (prior: number[]) => (dim === 4 ? [(prior[0] + prior[2]) / 2, (prior[1] + prior[3]) / 2] : prior);
  return {
    numImages: GRID.N,
    numPriors: GRID.H * GRID.W * A,
    labels,
    labelWeights,
    posIndex: Int32Array.from(positives.map((p) => p.row)),
    posCenters: Float32Array.from(positives.flatMap((p) => centre(p.prior).map((v) => v / GRID.STRIDE))),
    posBoxTargets: Float32Array.from(positives.flatMap((p) => p.gt.map((v) => v / GRID.STRIDE))),
    posStrides: new Float32Array(positives.length).fill(GRID.STRIDE),
    posGtIndex: new Int32Array(positives.length),
    priorDim: dim,
    posPriors: Float32Array.from(positives.flatMap((p) => p.prior)),
    posGtBoxes: Float32Array.from(positives.flatMap((p) => p.gt)),
    posCenterness: Float32Array.from(positives.map((p) => centernessOf(centre(p.prior)[0], centre(p.prior)[1], p.gt))),
    avgFactor,
    numPos: positives.length,
  };
}

/** The grid's priors for a head kind, as float64 rows (per image, repeated N times). */
export function gridPriorRows(kind: HeadKind): { rows: Float64Array; dim: 4 | 2 } {
  const featmaps = [[GRID.H, GRID.W] as const];
  const gen =
    kind === 'fcos'
      ? new PointGenerator([GRID.STRIDE], 0.5)
      : new AnchorGenerator({
          strides: [GRID.STRIDE],
          ratios: kind === 'retina' ? [0.5, 1, 2] : [1],
          octaveBaseScale: 4,
          scalesPerOctave: kind === 'retina' ? 3 : 1,
        });
  const one = gen.gridPriors(featmaps);
  const rows = new Float64Array(one.priors.length * GRID.N);
  for (let n = 0; n < GRID.N; n++) rows.set(one.priors, n * one.priors.length);
  return { rows, dim: one.dim };
}

/** The same priors as the heads' PriorTensors (centres and strides too). */
export function gridPriorTensors(kind: HeadKind): PriorTensors {
  const { rows, dim } = gridPriorRows(kind);
  const R = rows.length / dim;
  const centers = Float32Array.from({ length: 2 * R }, (_, i) => {
    const [r, k] = [Math.floor(i / 2), i % 2];
    return dim === 4 ? (rows[4 * r + k] + rows[4 * r + k + 2]) / 2 : rows[2 * r + k];
  });
  return {
    priors: E.tensor(Float32Array.from(rows), [R, dim]),
    centers: E.tensor(centers, [R, 2]),
    strides: E.tensor(new Float32Array(R).fill(GRID.STRIDE), [R, 1]),
  };
}

/** float64 align_scale (docs/crosskd.md §2): per channel over N·H·W, unbiased std, +1e-6 on the student's. */
export function alignRef(s: RefTensor, t: RefTensor): RefTensor {
  const [n, c, h, w] = s.shape;
  const stats = (x: RefTensor, ch: number) => {
    const vals: number[] = [];
    for (let b = 0; b < n; b++) for (let k = 0; k < h * w; k++) vals.push(x.data[(b * c + ch) * h * w + k]);
    const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
    return { mean, std: Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / (vals.length - 1)) };
  };
  const out = new Float64Array(s.data.length);
  for (let ch = 0; ch < c; ch++) {
    const [ss, ts] = [stats(s, ch), stats(t, ch)];
    for (let b = 0; b < n; b++)
      for (let k = 0; k < h * w; k++) {
        const i = (b * c + ch) * h * w + k;
        out[i] = ((s.data[i] - ss.mean) / (ss.std + 1e-6)) * ts.std + ts.mean;
      }
  }
  return { shape: s.shape, data: out };
}

/** Prediction rows of one head: cls [R·C], reg [R·4], centerness [R] (ATSS, FCOS). */
export interface PredictionRows {
  cls: Float64Array;
  reg: Float64Array;
  centerness?: Float64Array;
}

/**
 * docs/crosskd.md §4's KD terms of an ATSS, RetinaNet or FCOS head in float64, as the CrossKD
 * reference's pred_imitation losses compute them (weights as given).
 */
export function referenceBoxKd(
  kind: HeadKind,
  pred: PredictionRows,
  teacher: PredictionRows,
  t: DenseTargets,
  priors: { rows: Float64Array; dim: 4 | 2 },
  w: { cls: number; reg: number; center: number },
): Record<string, number> {
  const C = pred.cls.length / (pred.reg.length / 4);
  const R = pred.reg.length / 4;
  const EPS = 1.1920929e-7;
  const valid = (r: number) => (kind === 'fcos' ? 1 : t.labelWeights[r]);
  const norm =
    kind === 'fcos'
      ? Math.max(
          t.posCenterness.reduce((a, b) => a + b, 0),
          1e-6,
        )
      : t.avgFactor;
  const kdRows = kdQflRows(pred.cls, teacher.cls, C);
  const kdCls = Array.from(kdRows).reduce((a, v, r) => a + valid(r) * v, 0) / (norm + EPS);
  const decode = (reg: Float64Array, r: number) => {
    const prior = priors.rows.subarray(priors.dim * r, priors.dim * r + priors.dim);
    const d = reg.subarray(4 * r, 4 * r + 4);
    return kind === 'fcos' ? decodeDistance(prior, d) : decodeDelta(prior, d, kind === 'atss' ? [0.1, 0.1, 0.2, 0.2] : [1, 1, 1, 1]);
  };
  const predBoxes = Array.from({ length: R }, (_, r) => decode(pred.reg, r));
  const teacherBoxes = Array.from({ length: R }, (_, r) => decode(teacher.reg, r));
  const boxRows = boxLossRows(predBoxes, teacherBoxes, kind === 'fcos');
  const confidence = (r: number) => Math.max(...Array.from(teacher.cls.subarray(r * C, r * C + C), sigmoid));
  const kdReg = Array.from(boxRows).reduce((a, v, r) => a + confidence(r) * valid(r) * v, 0) / (norm + EPS);
  const out: Record<string, number> = { kdCls: w.cls * kdCls, kdReg: w.reg * kdReg };
  if (kind === 'atss') {
    const kdCenter = Array.from(t.posIndex).reduce((a, r) => a + bce(pred.centerness![r], sigmoid(teacher.centerness![r])), 0) / (t.avgFactor + EPS);
    out.kdCenter = w.center * kdCenter;
  }
  return out;
}
