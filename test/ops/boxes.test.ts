/**
 * GFL/FCOS box coding on the GPU (engine/ops/boxes.ts): distance2bbox's clamp to the image
 * and the gradient it lets through, bbox2distance's clamp to the DFL range. Integral's GPU
 * tests sit with the DFL's in losses.test.ts; the gradient checks of both run in test/checks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { expectNear, values } from '../helpers/values.ts';

beforeAll(async () => {
  await E.init();
});

describe('box coding', () => {
  it('distance2bbox clamps to maxShape [H, W] and passes the gradient only inside', async () => {
    const p = E.requireGrad(E.tensor([1, 1, 8, 8], [2, 2]));
    const d = E.requireGrad(E.tensor([2, 0.5, 3, 20, 1, 1, 1, 1], [2, 4]));
    const box = E.distance2bbox(p, d, [10, 6]);
    expect(await values(box)).toEqual([0, 0.5, 4, 10, 6, 7, 6, 9]);
    E.backward(box, E.tensor([1, 1, 1, 1, 1, 1, 1, 1], [2, 4]));
    // clamped: x1 of box 0 (−1 → 0), y2 of box 0 (21 → 10), x1 and x2 of box 1 (7, 9 → 6)
    // (+ 0 turns the −0 of a masked −g into 0)
    expect((await values(d.grad!)).map((v) => v + 0)).toEqual([0, -1, 1, 0, 0, -1, 0, 1]);
    // the point collects (g_x1 + g_x2, g_y1 + g_y2) of what passed
    expect(await values(p.grad!)).toEqual([1, 1, 0, 2]);
  });

  it('bbox2distance with maxDis clamps to [0, maxDis − eps] (the DFL targets)', async () => {
    const p = E.tensor([5, 5], [1, 2]);
    const out = await values(E.bbox2distance(p, E.tensor([-20, 4, 6, 30], [1, 4]), 16));
    expectNear(out, [15.9, 1, 1, 15.9], 1e-6);
  });
});
