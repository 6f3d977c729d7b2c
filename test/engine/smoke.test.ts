import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';

beforeAll(async () => {
  await E.init();
});

describe('engine smoke', () => {
  it('computes a small graph and its gradients', async () => {
    // y = sum(relu(a + b) * exp(b)), worked by hand below
    const a = E.requireGrad(E.tensor([1, -2, 3, 4, 5, 6], [2, 3]));
    const b = E.requireGrad(E.tensor([0.5, 2, -1], [3]));
    const y = E.sum(E.mul(E.relu(E.add(a, b)), E.exp(b)));
    const eb = [Math.exp(0.5), Math.exp(2), Math.exp(-1)];
    const s = [
      [1.5, 0, 2],
      [4.5, 7, 5],
    ];
    const want = s.flat().reduce((acc, v, i) => acc + v * eb[i % 3], 0);
    expect(await y.item()).toBeCloseTo(want, 4);
    E.backward(y);
    const da = await a.grad!.data();
    // relu'(0) = 0 at a+b = 0 (element 1)
    const wantDa = [eb[0], 0, eb[2], eb[0], eb[1], eb[2]];
    wantDa.forEach((v, i) => expect(da[i]).toBeCloseTo(v, 5));
  });
});
