/**
 * mmdetection's DeltaXYWHBBoxCoder (target means 0), the box coding of ATSS (stds 0.1,
 * 0.1, 0.2, 0.2) and RetinaNet (stds 1): an anchor (centre px, py, size pw, ph) and a gt
 * box (gx, gy, gw, gh) give the deltas
 *   dx = (gx − px)/pw/std0, dy = (gy − py)/ph/std1, dw = ln(gw/pw)/std2, dh = ln(gh/ph)/std3;
 * decoding inverts that, with dw, dh (after the stds) clamped to ±|ln(16/1000)| so exp
 * cannot blow up (mmdetection's wh_ratio_clip).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

export type DeltaStds = readonly [number, number, number, number];

export const ATSS_DELTA_STDS: DeltaStds = [0.1, 0.1, 0.2, 0.2];
export const RETINA_DELTA_STDS: DeltaStds = [1, 1, 1, 1];

/** |ln(16/1000)|: the largest log size ratio a decoded box may have to its anchor. */
export const MAX_LOG_RATIO = Math.abs(Math.log(16 / 1000));

/** Deltas of gt boxes against anchors on the CPU (flat x1,y1,x2,y2 rows → flat deltas). */
export function encodeDeltas(anchors: ArrayLike<number>, gts: ArrayLike<number>, stds: DeltaStds): Float32Array {
  if (anchors.length !== gts.length || anchors.length % 4) throw new Error(`encodeDeltas: ${anchors.length / 4} anchors for ${gts.length / 4} gt boxes`);
  const out = new Float32Array(anchors.length);
  for (let i = 0; i < anchors.length; i += 4) {
    const [pw, ph] = [anchors[i + 2] - anchors[i], anchors[i + 3] - anchors[i + 1]];
    const [px, py] = [(anchors[i] + anchors[i + 2]) * 0.5, (anchors[i + 1] + anchors[i + 3]) * 0.5];
    const [gw, gh] = [gts[i + 2] - gts[i], gts[i + 3] - gts[i + 1]];
    const [gx, gy] = [(gts[i] + gts[i + 2]) * 0.5, (gts[i + 1] + gts[i + 3]) * 0.5];
    out[i] = (gx - px) / pw / stds[0];
    out[i + 1] = (gy - py) / ph / stds[1];
    out[i + 2] = Math.log(gw / pw) / stds[2];
    out[i + 3] = Math.log(gh / ph) / stds[3];
  }
  return out;
}

/**
 * Boxes [R, 4] from anchors [R, 4] (constants) and deltas [R, 4], differentiable in the
 * deltas: centre (px + pw·dx, py + ph·dy), size (pw·e^dw, ph·e^dh).
 */
export function decodeDeltas(anchors: Tensor, deltas: Tensor, stds: DeltaStds): Tensor {
  if (anchors.rank !== 2 || anchors.shape[1] !== 4) throw new Error(`decodeDeltas: anchors must be [R,4], got [${anchors.shape}]`);
  if (deltas.shape.join() !== anchors.shape.join()) throw new Error(`decodeDeltas: deltas [${deltas.shape}] must have the anchors' shape [${anchors.shape}]`);
  const R = anchors.shape[0];
  const left = (t: Tensor) => E.slice(t, [0, 0], [R, 2]);
  const right = (t: Tensor) => E.slice(t, [0, 2], [R, 4]);
  const { centre, size } = E.noGrad(() => {
    const a = E.detach(anchors);
    const size = E.sub(right(a), left(a));
    return { centre: E.scale(E.add(left(a), right(a)), 0.5), size };
  });
  const d = E.mul(deltas, E.tensor(Float32Array.from(stds), [1, 4]));
  const c = E.add(centre, E.mul(size, left(d)));
  const half = E.mul(size, E.scale(E.exp(E.clamp(right(d), -MAX_LOG_RATIO, MAX_LOG_RATIO)), 0.5));
  return E.concat([E.sub(c, half), E.add(c, half)], 1);
}
