/**
 * GFL's Integral and the box coding of docs/crosskd.md §5 (distance2bbox, bbox2distance),
 * fused like the losses (engine/ops/lossLaunch.ts): the forward pass also writes the
 * gradient, the backward scales it by the upstream gradient.
 */
import { isGradEnabled, record } from '../autograd.ts';
import { runtime } from '../runtime.ts';
import { fmt } from '../shape.ts';
import { empty, type Tensor } from '../tensor.ts';
import { expectDtype } from './util.ts';
import { lossGroups, placeholder, recordSaved, expectShape, expectNumber, rowConstant, expectBins } from './lossLaunch.ts';

// ------------------------------------------------------------------ Integral

/**
 * GFL's Integral (docs/crosskd.md §5): out[n] = Σ_j softmax(pred[n])_j · j over the regMax + 1
 * bins of each row, the distance in stride units. Fused like the losses: the forward pass
 * also writes d out/d pred, and the backward scales it by the upstream gradient.
 */
export function integral(pred: Tensor, opts: { regMax?: number } = {}): Tensor {
  const op = 'integral';
  const m = expectBins(op, pred, opts.regMax);
  const N = pred.shape[0];
  const wants = isGradEnabled() && pred.requiresGrad;
  const out = empty([N]);
  const saved = wants ? empty(pred.shape) : null;
  if (N > 0)
    runtime().dispatch({
      op,
      kernel: 'integral',
      constants: { GRAD_A: wants, BINS: rowConstant(m) },
      uniforms: { n: N, bins: m },
      buffers: { pred: pred.buffer, out: out.buffer, grad_a: saved?.buffer ?? placeholder('grad_a') },
      workgroups: [lossGroups(N)],
    });
  if (saved) return recordSaved(op, [{ input: pred, perLoss: m }], out, [saved], null);
  runtime().opDone(op, [out]); // no tape record follows: close the op here
  return out;
}

// ------------------------------------------------------------------ box coding

function expectPoints(op: string, points: Tensor, other: Tensor, otherName: string): number {
  expectDtype(op, 'points', points, 'float32');
  expectDtype(op, otherName, other, 'float32');
  if (points.rank !== 2 || points.shape[1] !== 2) throw new Error(`${op}: points must have shape [N,2] (x,y), got ${fmt(points.shape)}`);
  expectShape(op, otherName, other, [points.shape[0], 4]);
  return points.shape[0];
}

/** distance2bbox (MODE 0) and bbox2distance (MODE 1): one kernel each way, see box_coding*.wgsl. */
function boxCoding(op: string, mode: 0 | 1, points: Tensor, boxes: Tensor, hi: number[] | null): Tensor {
  const N = points.shape[0];
  const out = empty([N, 4]);
  const clamp = hi !== null;
  const uniforms = { n: N, hi: hi ?? [0, 0, 0, 0] };
  if (N > 0)
    runtime().dispatch({
      op,
      kernel: 'box_coding',
      constants: { MODE: mode, CLAMP: clamp },
      uniforms,
      buffers: { points: points.buffer, boxes: boxes.buffer, out: out.buffer },
      workgroups: [lossGroups(N)],
    });
  return record(op, [points, boxes], out, (g, needs) => {
    const dp = needs[0] ? empty(points.shape) : null;
    const db = needs[1] ? empty(boxes.shape) : null;
    if (N > 0)
      runtime().dispatch({
        op: `${op} backward`,
        kernel: 'box_coding_grad',
        constants: { MODE: mode, CLAMP: clamp, GRAD_POINTS: !!dp, GRAD_BOXES: !!db },
        uniforms,
        buffers: {
          points: points.buffer,
          boxes: boxes.buffer,
          g: g.buffer,
          d_points: dp?.buffer ?? placeholder('d_points'),
          d_boxes: db?.buffer ?? placeholder('d_boxes'),
        },
        workgroups: [lossGroups(N)],
      });
    return [dp, db];
  });
}

/**
 * distance2bbox (docs/crosskd.md §5): points [N,2] and distances (left, top, right, bottom) [N,4]
 * → boxes (p_x − d_l, p_y − d_t, p_x + d_r, p_y + d_b). With maxShape [H, W] the x
 * coordinates are clamped to [0, W] and the y ones to [0, H] (mmdetection); the gradient
 * passes where a coordinate lies within its bounds, inclusive (torch.clamp).
 */
export function distance2bbox(points: Tensor, distance: Tensor, maxShape?: readonly [number, number] | null): Tensor {
  const op = 'distance2bbox';
  expectPoints(op, points, distance, 'distance');
  let hi: number[] | null = null;
  if (maxShape) {
    if (maxShape.length !== 2 || !maxShape.every((v) => Number.isFinite(v) && v >= 0))
      throw new Error(`${op}: maxShape must be [H, W] with non-negative finite values, got ${JSON.stringify(maxShape)}`);
    const [H, W] = maxShape;
    hi = [W, H, W, H];
  }
  return boxCoding(op, 0, points, distance, hi);
}

/**
 * bbox2distance: points [N,2] and boxes [N,4] → distances (p_x − x1, p_y − y1, x2 − p_x,
 * y2 − p_y). With maxDis each is clamped to [0, maxDis − eps] (mmdetection, eps 0.1): the
 * DFL targets, [0, 15.9] for reg_max 16 (docs/crosskd.md §3). The gradient passes inside the
 * bounds, inclusive.
 */
export function bbox2distance(points: Tensor, bbox: Tensor, maxDis?: number | null, eps = 0.1): Tensor {
  const op = 'bbox2distance';
  expectPoints(op, points, bbox, 'bbox');
  let hi: number[] | null = null;
  if (maxDis !== undefined && maxDis !== null) {
    expectNumber(op, 'eps', eps, () => true, 'a finite number');
    const top = expectNumber(op, 'maxDis', maxDis, (d) => d - eps >= 0, `a number with maxDis − eps ≥ 0 (eps = ${eps})`) - eps;
    hi = [top, top, top, top];
  }
  return boxCoding(op, 1, points, bbox, hi);
}
