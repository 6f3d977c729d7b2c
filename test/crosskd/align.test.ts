/**
 * The statistics alignment with a constant student channel (a ReLU channel dead over the
 * batch): finite, with the zero gradient through std = 0 that torch's std backward gives,
 * and every other channel's gradient equal to float64 central differences.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/random.ts';
import { alignToTeacher } from '../../crosskd/align.ts';
import { alignRef, fdRelativeError } from '../detection/heads/headReference.ts';

beforeAll(async () => {
  await E.init();
});

describe('alignToTeacher', () => {
  it('gives a constant channel a zero std gradient instead of NaN', async () => {
    const [N, C, H, W] = [4, 3, 1, 1];
    const rng = new Rng(3);
    const s = rng.normal(N * C * H * W).map((v, i) => (i % C === 1 ? 0 : v)); // channel 1 dead
    const t = rng.normal(N * C * H * W, 0.5, 2);
    const student = E.requireGrad(E.tensor(s, [N, C, H, W]));
    const teacher = E.tensor(t, [N, C, H, W]);
    const upstream = rng.normal(N * C * H * W);
    const out = alignToTeacher(student, teacher);
    E.backward(E.sum(E.mul(out, E.tensor(upstream, [N, C, H, W]))));
    const sRef = { shape: [N, C, H, W], data: Float64Array.from(s) };
    const tRef = { shape: [N, C, H, W], data: Float64Array.from(t) };
    const got = await out.data();
    const want = alignRef(sRef, tRef).data;
    got.forEach((v, i) => expect(v, `output ${i}`).toBeCloseTo(want[i], 5));
    const grad = Array.from(await student.grad!.data());
    expect(grad.every(Number.isFinite)).toBe(true);
    // the dead channel: out = (x − mean)/(0 + 1e-6)·std_t + mean_t, with no term through its
    // std, so d/dx_j = std_t/1e-6 · (u_j − mean(u)) (then a ReLU in front zeroes it)
    const dead = Array.from({ length: N }, (_, n) => n * C + 1);
    const tDead = dead.map((i) => t[i]);
    const tMean = tDead.reduce((a, v) => a + v, 0) / N;
    const tStd = Math.sqrt(tDead.reduce((a, v) => a + (v - tMean) ** 2, 0) / (N - 1));
    const uMean = dead.reduce((a, i) => a + upstream[i], 0) / N;
    for (const i of dead) expect(grad[i] / ((tStd / 1e-6) * (upstream[i] - uMean)), `dead channel, element ${i}`).toBeCloseTo(1, 4);
    // the live channels: central differences of the float64 alignment
    const f = () => alignRef(sRef, tRef).data.reduce((a, v, i) => a + v * upstream[i], 0);
    const liveIndex = Array.from({ length: s.length }, (_, i) => i).filter((i) => i % C !== 1);
    const live = Float64Array.from(liveIndex, (i) => s[i]);
    const fLive = () => {
      liveIndex.forEach((i, k) => (sRef.data[i] = live[k]));
      return f();
    };
    expect(await fdRelativeError(fLive, E.tensor(liveIndex.map((i) => grad[i])), live)).toBeLessThan(1e-4);
  });
});
