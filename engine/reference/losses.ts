/**
 * Float64 CPU reference of the dense-detector losses (docs/crosskd.md §3): sigmoid focal,
 * QFL, KD-QFL, DFL, the distribution KL, GIoU and IoU-log, with the op ids, inputs,
 * attributes and outputs of docs/op-cases.md; see args.ts for the conventions at ties.
 */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import {
  binsSetup,
  checkBoxes,
  fmtShape,
  tensor,
  fail,
  input,
  expectRank,
  expectShape,
  numAttr,
  intAttr,
  enumAttr,
  upstreamOf,
  REDUCTIONS,
  reduce,
  upstreamElems,
  sigmoid,
  softplus,
  bce,
  powGrad,
  logSoftmaxRow,
  maxShares,
  minShares,
  maxConstGrad,
} from './args.ts';

// ───────────────────────────── sigmoid_focal_loss ─────────────────────────────

function focalSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'sigmoid_focal_loss';
  const logits = input(op, inputs, 'logits');
  const targets = input(op, inputs, 'targets');
  expectShape(op, 'targets', targets, logits.shape);
  const alpha = numAttr(op, attrs, 'alpha', 0.25);
  const gamma = numAttr(op, attrs, 'gamma', 2);
  if (gamma < 0) fail(op, 'gamma', 'a non-negative number', String(gamma));
  const reduction = enumAttr(op, attrs, 'reduction', REDUCTIONS, 'none');
  return { logits, targets, alpha, gamma, reduction };
}

/**
 * loss = w·pt^γ·BCE(x, t), w = α·t + (1-α)(1-t), pt = (1-p)·t + p·(1-t), p = σ(x).
 * Targets are 0/1 in use but the formula is smooth in t, so t gets its true gradient too.
 * 1 - p is computed as σ(-x), never by subtraction: at x = 30 the subtraction would lose
 * almost every digit of pt for a positive.
 */
const sigmoid_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { logits, targets, alpha, gamma, reduction } = focalSetup(inputs, attrs);
    const elems = tensor([...logits.shape]);
    for (let i = 0; i < elems.data.length; i++) {
      const x = logits.data[i];
      const t = targets.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const w = alpha * t + (1 - alpha) * (1 - t);
      const pt = q * t + p * (1 - t);
      elems.data[i] = w * pt ** gamma * bce(x, t);
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { logits, targets, alpha, gamma, reduction } = focalSetup(inputs, attrs);
    const n = logits.data.length;
    const u = upstreamElems('sigmoid_focal_loss', upstream, 'loss', n, reduction);
    const dx = tensor([...logits.shape]);
    const dt = tensor([...targets.shape]);
    for (let i = 0; i < n; i++) {
      const x = logits.data[i];
      const t = targets.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const w = alpha * t + (1 - alpha) * (1 - t);
      const pt = q * t + p * (1 - t);
      const ptG = pt ** gamma;
      const dptG = powGrad(pt, gamma);
      const l = bce(x, t);
      // dpt/dx = p·q·(1 - 2t); dBCE/dx = p - t; dpt/dt = q - p; dBCE/dt = -x; dw/dt = 2α - 1.
      dx.data[i] = u[i] * w * (dptG * p * q * (1 - 2 * t) * l + ptG * (p - t));
      dt.data[i] = u[i] * ((2 * alpha - 1) * ptG * l + w * dptG * (q - p) * l - w * ptG * x);
    }
    return { logits: dx, targets: dt };
  },
};

// ───────────────────────────── quality_focal_loss ─────────────────────────────

function qflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'quality_focal_loss';
  const pred = input(op, inputs, 'pred');
  const label = input(op, inputs, 'label');
  const score = input(op, inputs, 'score');
  expectRank(op, 'pred', pred, 2, '[N,C]');
  const [N, C] = pred.shape;
  expectShape(op, 'label', label, [N]);
  expectShape(op, 'score', score, [N]);
  const beta = numAttr(op, attrs, 'beta', 2);
  if (beta < 0) fail(op, 'beta', 'a non-negative number', String(beta));
  const numClasses = intAttr(op, attrs, 'num_classes', 1, C);
  if (numClasses !== C) fail(op, 'num_classes', `pred.shape[1] = ${C}`, String(numClasses));
  for (let i = 0; i < N; i++) {
    const l = label.data[i];
    if (!Number.isInteger(l) || l < 0 || l > C) {
      fail(op, 'label', `integers in [0, ${C}] (${C} = background)`, `label[${i}] = ${l}`);
    }
  }
  return { pred, label, score, N, C, beta };
}

/**
 * Per prior and class: negatives BCE(x, 0)·σ(x)^β; at a positive's own class
 * BCE(x, s)·|s - σ(x)|^β. Summed over classes. The σ in the factor is not detached, and
 * the score is an ordinary float input, so it gets its gradient like PyTorch would give it.
 */
const quality_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, label, score, N, C, beta } = qflSetup(inputs, attrs);
    const loss = tensor([N]);
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const x = pred.data[n * C + c];
        const p = sigmoid(x);
        s += label.data[n] === c ? bce(x, score.data[n]) * Math.abs(score.data[n] - p) ** beta : softplus(x) * p ** beta;
      }
      loss.data[n] = s;
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, label, score, N, C, beta } = qflSetup(inputs, attrs);
    const u = upstreamOf('quality_focal_loss', upstream, 'loss', N);
    const dpred = tensor([N, C]);
    const dscore = tensor([N]);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const x = pred.data[n * C + c];
        const p = sigmoid(x);
        const q = sigmoid(-x);
        if (label.data[n] === c) {
          const s = score.data[n];
          const diff = s - p;
          const f = Math.abs(diff) ** beta;
          const df = powGrad(Math.abs(diff), beta) * Math.sign(diff); // d f / d diff
          const l = bce(x, s);
          dpred.data[n * C + c] = u[n] * ((p - s) * f + l * df * -(p * q));
          dscore.data[n] += u[n] * (-x * f + l * df);
        } else {
          // d/dx [softplus(x)·p^β] = p·p^β + softplus(x)·β p^{β-1}·p·q
          dpred.data[n * C + c] = u[n] * (p * p ** beta + softplus(x) * powGrad(p, beta) * p * q);
        }
      }
    }
    return { pred: dpred, label: null, score: dscore };
  },
};

// ─────────────────────────── kd_quality_focal_loss ───────────────────────────

function kdqflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'kd_quality_focal_loss';
  const pred = input(op, inputs, 'pred');
  const target = input(op, inputs, 'soft_target');
  expectRank(op, 'pred', pred, 2, '[N,C]');
  expectShape(op, 'soft_target', target, pred.shape);
  const beta = numAttr(op, attrs, 'beta', 1);
  if (beta < 0) fail(op, 'beta', 'a non-negative number', String(beta));
  const classReduction = enumAttr(op, attrs, 'class_reduction', ['sum', 'none'] as const, 'sum');
  const [N, C] = pred.shape;
  return { pred, target, beta, classReduction, N, C };
}

/**
 * CrossKD's classification KD: element BCE(x̂, t)·|σ(x̂) - t|^β with t the teacher's
 * probability (the caller applies σ and detaches). soft_target is a float input, so its
 * mathematical gradient is returned too; CrossKD itself never asks for it.
 */
const kd_quality_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, target, beta, classReduction, N, C } = kdqflSetup(inputs, attrs);
    const elems = tensor([N, C]);
    for (let i = 0; i < N * C; i++) {
      const x = pred.data[i];
      const t = target.data[i];
      elems.data[i] = bce(x, t) * Math.abs(sigmoid(x) - t) ** beta;
    }
    if (classReduction === 'none') return { loss: elems };
    const loss = tensor([N]);
    for (let i = 0; i < N * C; i++) loss.data[Math.floor(i / C)] += elems.data[i];
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, target, beta, classReduction, N, C } = kdqflSetup(inputs, attrs);
    const u = upstreamOf('kd_quality_focal_loss', upstream, 'loss', classReduction === 'none' ? N * C : N);
    const dpred = tensor([N, C]);
    const dtarget = tensor([N, C]);
    for (let i = 0; i < N * C; i++) {
      const g = classReduction === 'none' ? u[i] : u[Math.floor(i / C)];
      const x = pred.data[i];
      const t = target.data[i];
      const p = sigmoid(x);
      const q = sigmoid(-x);
      const diff = p - t;
      const f = Math.abs(diff) ** beta;
      const df = powGrad(Math.abs(diff), beta) * Math.sign(diff); // d f / d diff
      const l = bce(x, t);
      dpred.data[i] = g * ((p - t) * f + l * df * p * q);
      dtarget.data[i] = g * (-x * f - l * df);
    }
    return { pred: dpred, soft_target: dtarget };
  },
};

// ────────────────────────── distribution_focal_loss ──────────────────────────

function dflSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'distribution_focal_loss';
  const { pred, N, m, regMax } = binsSetup(op, inputs, attrs);
  const target = input(op, inputs, 'target');
  expectShape(op, 'target', target, [N]);
  for (let i = 0; i < N; i++) {
    const y = target.data[i];
    // y_r = floor(y) + 1 must be a bin: y in [0, reg_max). The caller clamps (docs/crosskd.md §3).
    if (!(y >= 0 && y < regMax)) fail(op, 'target', `values in [0, ${regMax})`, `target[${i}] = ${y}`);
  }
  return { pred, target, N, m };
}

/**
 * loss = CE(z, y_l)·(y_r - y) + CE(z, y_r)·(y - y_l), y_l = floor(y), y_r = y_l + 1.
 * In y the loss is piecewise linear and continuous; its slope CE_r - CE_l is taken from
 * the interval [y_l, y_l + 1) that the forward uses (right derivative at integers).
 */
const distribution_focal_loss: RefOp = {
  forward(inputs, attrs) {
    const { pred, target, N, m } = dflSetup(inputs, attrs);
    const loss = tensor([N]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      const y = target.data[n];
      const yl = Math.floor(y);
      loss.data[n] = -ls[yl] * (yl + 1 - y) - ls[yl + 1] * (y - yl);
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, target, N, m } = dflSetup(inputs, attrs);
    const u = upstreamOf('distribution_focal_loss', upstream, 'loss', N);
    const dpred = tensor([N, m]);
    const dtarget = tensor([N]);
    const ls = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1, ls);
      const y = target.data[n];
      const yl = Math.floor(y);
      const wl = yl + 1 - y;
      const wr = y - yl;
      // d CE(z, k)/dz_j = softmax_j - [j = k]; the weights sum to 1.
      for (let j = 0; j < m; j++) dpred.data[n * m + j] = u[n] * Math.exp(ls[j]);
      dpred.data[n * m + yl] -= u[n] * wl;
      dpred.data[n * m + yl + 1] -= u[n] * wr;
      dtarget.data[n] = u[n] * (-ls[yl + 1] + ls[yl]);
    }
    return { pred: dpred, target: dtarget };
  },
};

// ────────────────────────────────── kd_kl_div ──────────────────────────────────

function klSetup(inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const op = 'kd_kl_div';
  const pred = input(op, inputs, 'pred');
  const soft = input(op, inputs, 'soft_label');
  expectRank(op, 'pred', pred, 2, '[N,n+1]');
  expectShape(op, 'soft_label', soft, pred.shape);
  const T = numAttr(op, attrs, 'T', 1);
  if (!(T > 0)) fail(op, 'T', 'a positive temperature', String(T));
  const binReduction = enumAttr(op, attrs, 'bin_reduction', ['sum', 'mean'] as const, 'sum');
  const [N, m] = pred.shape;
  return { pred, soft, T, binReduction, N, m };
}

/**
 * Per row: KL(softmax(z_t/T) || softmax(z_s/T))·T², summed or averaged over the bins
 * (F.kl_div(log_softmax(pred/T), softmax(soft/T)) then .sum(1) or .mean(1), times T²).
 * The teacher is detached: soft_label's gradient is null.
 */
const kd_kl_div: RefOp = {
  forward(inputs, attrs) {
    const { pred, soft, T, binReduction, N, m } = klSetup(inputs, attrs);
    const scale = (T * T) / (binReduction === 'mean' ? m : 1);
    const loss = tensor([N]);
    const lq = new Float64Array(m);
    const lt = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1 / T, lq);
      logSoftmaxRow(soft.data, n, m, 1 / T, lt);
      let s = 0;
      for (let j = 0; j < m; j++) {
        const t = Math.exp(lt[j]);
        if (t > 0) s += t * (lt[j] - lq[j]); // xlogy convention: 0·log 0 = 0
      }
      loss.data[n] = s * scale;
    }
    return { loss };
  },
  vjp(inputs, attrs, upstream) {
    const { pred, soft, T, binReduction, N, m } = klSetup(inputs, attrs);
    const scale = (T * T) / (binReduction === 'mean' ? m : 1);
    const u = upstreamOf('kd_kl_div', upstream, 'loss', N);
    const dpred = tensor([N, m]);
    const lq = new Float64Array(m);
    const lt = new Float64Array(m);
    for (let n = 0; n < N; n++) {
      logSoftmaxRow(pred.data, n, m, 1 / T, lq);
      logSoftmaxRow(soft.data, n, m, 1 / T, lt);
      // d/dz_j of -Σ t·log q(z/T) = (q_j - t_j)/T, since Σ t = 1.
      for (let j = 0; j < m; j++) dpred.data[n * m + j] = (u[n] * scale * (Math.exp(lq[j]) - Math.exp(lt[j]))) / T;
    }
    return { pred: dpred, soft_label: null };
  },
};

// ───────────────────────── box losses: GIoU and IoU-log ─────────────────────────

function boxesSetup(op: string, inputs: Record<string, RefTensor>, attrs: RefAttrs) {
  const b1 = input(op, inputs, 'boxes1');
  const b2 = input(op, inputs, 'boxes2');
  expectRank(op, 'boxes1', b1, 2, '[N,4]');
  if (b1.shape[1] !== 4) fail(op, 'boxes1', 'shape [N,4] (x1,y1,x2,y2)', `shape ${fmtShape(b1.shape)}`);
  expectShape(op, 'boxes2', b2, b1.shape);
  checkBoxes(op, 'boxes1', b1);
  checkBoxes(op, 'boxes2', b2);
  const eps = numAttr(op, attrs, 'eps', 1e-6);
  if (!(eps > 0)) fail(op, 'eps', 'a positive number', String(eps));
  const reduction = enumAttr(op, attrs, 'reduction', REDUCTIONS, 'none');
  return { b1: b1.data, b2: b2.data, N: b1.shape[0], eps, reduction };
}

/**
 * One aligned box pair: IoU and GIoU (mmdetection's bbox_overlaps with eps clamps) and,
 * given dL/dIoU and dL/dGIoU, the gradients with respect to both boxes. Written as an
 * explicit forward then reverse sweep so the tie conventions (see the file header) are
 * visible at each min/max.
 */
function boxPair(a: Float64Array, b: Float64Array, eps: number, gIou = 0, gGiou = 0, da?: Float64Array, db?: Float64Array) {
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  // Intersection: lt = max of the top-left corners, rb = min of the bottom-right ones.
  const ltx = Math.max(a[0], b[0]);
  const lty = Math.max(a[1], b[1]);
  const rbx = Math.min(a[2], b[2]);
  const rby = Math.min(a[3], b[3]);
  const iwRaw = rbx - ltx;
  const ihRaw = rby - lty;
  const iw = Math.max(iwRaw, 0);
  const ih = Math.max(ihRaw, 0);
  const overlap = iw * ih;
  const unionRaw = areaA + areaB - overlap;
  const union = Math.max(unionRaw, eps);
  const iou = overlap / union;
  // Enclosing box: min of top-left corners, max of bottom-right ones.
  const ex1 = Math.min(a[0], b[0]);
  const ey1 = Math.min(a[1], b[1]);
  const ex2 = Math.max(a[2], b[2]);
  const ey2 = Math.max(a[3], b[3]);
  const ewRaw = ex2 - ex1;
  const ehRaw = ey2 - ey1;
  const ew = Math.max(ewRaw, 0);
  const eh = Math.max(ehRaw, 0);
  const encRaw = ew * eh;
  const enclose = Math.max(encRaw, eps);
  const giou = iou - (enclose - union) / enclose;

  if (da && db) {
    // giou = iou - 1 + union/enclose
    const gIouTot = gIou + gGiou;
    const gUnion = (-gIouTot * overlap) / (union * union) + gGiou / enclose;
    const gEnclose = (-gGiou * union) / (enclose * enclose);
    let gOverlap = gIouTot / union;
    const gUnionRaw = gUnion * maxConstGrad(unionRaw, eps);
    gOverlap -= gUnionRaw;
    const gAreaA = gUnionRaw;
    const gAreaB = gUnionRaw;
    // Areas.
    da[0] -= gAreaA * (a[3] - a[1]);
    da[2] += gAreaA * (a[3] - a[1]);
    da[1] -= gAreaA * (a[2] - a[0]);
    da[3] += gAreaA * (a[2] - a[0]);
    db[0] -= gAreaB * (b[3] - b[1]);
    db[2] += gAreaB * (b[3] - b[1]);
    db[1] -= gAreaB * (b[2] - b[0]);
    db[3] += gAreaB * (b[2] - b[0]);
    // Intersection width/height, clamp(min = 0) passes the gradient at ≥ 0 (torch.clamp).
    const gIw = iwRaw >= 0 ? gOverlap * ih : 0;
    const gIh = ihRaw >= 0 ? gOverlap * iw : 0;
    spread(gIw, minShares(a[2], b[2]), da, db, 2);
    spread(-gIw, maxShares(a[0], b[0]), da, db, 0);
    spread(gIh, minShares(a[3], b[3]), da, db, 3);
    spread(-gIh, maxShares(a[1], b[1]), da, db, 1);
    // Enclosing box.
    const gEncRaw = gEnclose * maxConstGrad(encRaw, eps);
    const gEw = ewRaw >= 0 ? gEncRaw * eh : 0;
    const gEh = ehRaw >= 0 ? gEncRaw * ew : 0;
    spread(gEw, maxShares(a[2], b[2]), da, db, 2);
    spread(-gEw, minShares(a[0], b[0]), da, db, 0);
    spread(gEh, maxShares(a[3], b[3]), da, db, 3);
    spread(-gEh, minShares(a[1], b[1]), da, db, 1);
  }
  return { iou, giou };
}

function spread(g: number, shares: [number, number], da: Float64Array, db: Float64Array, k: number): void {
  da[k] += g * shares[0];
  db[k] += g * shares[1];
}

/** loss = 1 - GIoU per pair (docs/crosskd.md §3). */
const generalized_box_iou_loss: RefOp = {
  forward(inputs, attrs) {
    const { b1, b2, N, eps, reduction } = boxesSetup('generalized_box_iou_loss', inputs, attrs);
    const elems = tensor([N]);
    for (let n = 0; n < N; n++) {
      elems.data[n] = 1 - boxPair(b1.subarray(4 * n, 4 * n + 4), b2.subarray(4 * n, 4 * n + 4), eps).giou;
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { b1, b2, N, eps, reduction } = boxesSetup('generalized_box_iou_loss', inputs, attrs);
    const u = upstreamElems('generalized_box_iou_loss', upstream, 'loss', N, reduction);
    const d1 = tensor([N, 4]);
    const d2 = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const s = 4 * n;
      boxPair(b1.subarray(s, s + 4), b2.subarray(s, s + 4), eps, 0, -u[n], d1.data.subarray(s, s + 4), d2.data.subarray(s, s + 4));
    }
    return { boxes1: d1, boxes2: d2 };
  },
};

/**
 * FCOS IoU-log loss: -ln(max(IoU, eps)), IoU with union = max(union, eps). The outer clamp
 * is torch.clamp(min = eps), so the gradient passes where IoU ≥ eps and is 0 below.
 */
const iou_loss: RefOp = {
  forward(inputs, attrs) {
    const { b1, b2, N, eps, reduction } = boxesSetup('iou_loss', inputs, attrs);
    const elems = tensor([N]);
    for (let n = 0; n < N; n++) {
      const { iou } = boxPair(b1.subarray(4 * n, 4 * n + 4), b2.subarray(4 * n, 4 * n + 4), eps);
      elems.data[n] = -Math.log(Math.max(iou, eps));
    }
    return { loss: reduce(elems, reduction) };
  },
  vjp(inputs, attrs, upstream) {
    const { b1, b2, N, eps, reduction } = boxesSetup('iou_loss', inputs, attrs);
    const u = upstreamElems('iou_loss', upstream, 'loss', N, reduction);
    const d1 = tensor([N, 4]);
    const d2 = tensor([N, 4]);
    for (let n = 0; n < N; n++) {
      const s = 4 * n;
      const a = b1.subarray(s, s + 4);
      const b = b2.subarray(s, s + 4);
      const { iou } = boxPair(a, b, eps);
      const gIou = iou >= eps ? -u[n] / Math.max(iou, eps) : 0;
      boxPair(a, b, eps, gIou, 0, d1.data.subarray(s, s + 4), d2.data.subarray(s, s + 4));
    }
    return { boxes1: d1, boxes2: d2 };
  },
};

export const lossReferenceOps: Record<string, RefOp> = {
  sigmoid_focal_loss,
  quality_focal_loss,
  kd_quality_focal_loss,
  distribution_focal_loss,
  kd_kl_div,
  generalized_box_iou_loss,
  iou_loss,
};
