/** Pieces every dense head shares: flattening level maps, aligned IoU on the GPU. */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

/**
 * Per-level maps [N, Ch, H, W] → one [N·P, Ch] matrix, rows ordered image, level, y, x
 * (the prior order of detection/priors.ts, per image).
 */
export function flattenLevels(levels: readonly Tensor[]): Tensor {
  if (levels.length === 0) throw new Error('flattenLevels: no levels');
  const [n, ch] = levels[0].shape;
  const rows = levels.map((t) => {
    if (t.rank !== 4 || t.shape[0] !== n || t.shape[1] !== ch) throw new Error(`flattenLevels: every level must be [${n},${ch},H,W], got [${t.shape}]`);
    return E.reshape(E.permute(t, [0, 2, 3, 1]), [n, t.shape[2] * t.shape[3], ch]);
  });
  const all = rows.length === 1 ? rows[0] : E.concat(rows, 1);
  return E.reshape(all, [-1, ch]);
}

/** Column j of an [P, K] matrix as [P]. */
export function column(x: Tensor, j: number): Tensor {
  const [p] = x.shape;
  return E.reshape(E.slice(x, [0, j], [p, j + 1]), [p]);
}

/**
 * IoU of box i of `a` with box i of `b` (x1,y1,x2,y2), mmdetection's aligned
 * bbox_overlaps: overlaps clamp at 0, the union at eps. Not differentiated (GFL uses it as
 * the detached quality target).
 */
export function alignedIou(a: Tensor, b: Tensor, eps = 1e-6): Tensor {
  return E.noGrad(() => {
    const [ax1, ay1, ax2, ay2] = [0, 1, 2, 3].map((j) => column(a, j));
    const [bx1, by1, bx2, by2] = [0, 1, 2, 3].map((j) => column(b, j));
    const w = E.relu(E.sub(E.minimum(ax2, bx2), E.maximum(ax1, bx1)));
    const h = E.relu(E.sub(E.minimum(ay2, by2), E.maximum(ay1, by1)));
    const overlap = E.mul(w, h);
    const areaA = E.mul(E.sub(ax2, ax1), E.sub(ay2, ay1));
    const areaB = E.mul(E.sub(bx2, bx1), E.sub(by2, by1));
    const union = E.maximum(E.sub(E.add(areaA, areaB), overlap), eps);
    return E.div(overlap, union);
  });
}
