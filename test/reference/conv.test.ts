/**
 * The float64 conv2d: worked values, groups, stride, dilation and padding, central differences.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { referenceOps as ops } from '../../engine/reference/index.ts';
import type { RefAttrs, RefTensor } from '../../engine/reference/types.ts';
import { t, normalT, expectValues, fd } from './helpers.ts';

describe('conv2d', () => {
  const x = t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const weight = t([1, 1, 2, 2], [1, 2, 3, 4]);

  it('hand-worked 3×3 input, 2×2 kernel, with bias', () => {
    // out[i][j] = 1·x[i][j] + 2·x[i][j+1] + 3·x[i+1][j] + 4·x[i+1][j+1] + 0.5
    //   (0,0): 1+4+12+20 = 37   (0,1): 2+6+15+24 = 47
    //   (1,0): 4+10+21+32 = 67  (1,1): 5+12+24+36 = 77
    const { out } = ops.conv2d.forward({ x, weight, bias: t([1], [0.5]) }, {});
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expectValues(out.data, [37.5, 47.5, 67.5, 77.5], 1e-12);
  });

  it('hand-worked padding 1, stride 2, no bias', () => {
    // Padded 5×5 input; windows start at padded (0,0), (0,2), (2,0), (2,2):
    //   [0 0; 0 1] → 4·1 = 4            [0 0; 2 3] → 3·2 + 4·3 = 18
    //   [0 4; 0 7] → 2·4 + 4·7 = 36     [5 6; 8 9] → 5+12+24+36 = 77
    const { out } = ops.conv2d.forward({ x, weight }, { stride: [2, 2], padding: [1, 1] });
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expectValues(out.data, [4, 18, 36, 77], 1e-12);
  });

  it('hand-worked dilation 2: a 2×2 kernel reads the corners', () => {
    const { out } = ops.conv2d.forward({ x, weight }, { dilation: [2, 2] });
    expect(out.shape).toEqual([1, 1, 1, 1]);
    expectValues(out.data, [1 * 1 + 2 * 3 + 3 * 7 + 4 * 9], 1e-12);
  });

  it('groups = 2 equals two independent convs on the channel halves', () => {
    const rng = new Rng(7);
    const xg = normalT(rng, [2, 4, 5, 5]);
    const wg = normalT(rng, [6, 2, 3, 3]);
    const bg = normalT(rng, [6]);
    const attrs = { padding: [1, 1], groups: 2 };
    const full = ops.conv2d.forward({ x: xg, weight: wg, bias: bg }, attrs).out;
    for (let g = 0; g < 2; g++) {
      const xs = t(
        [2, 2, 5, 5],
        [0, 1].flatMap((n) => Array.from(xg.data.subarray((n * 4 + 2 * g) * 25, (n * 4 + 2 * g + 2) * 25))),
      );
      const ws = t([3, 2, 3, 3], wg.data.subarray(g * 54, (g + 1) * 54));
      const bs = t([3], bg.data.subarray(3 * g, 3 * g + 3));
      const part = ops.conv2d.forward({ x: xs, weight: ws, bias: bs }, { padding: [1, 1] }).out;
      for (let n = 0; n < 2; n++) {
        const want = Array.from(part.data.subarray(n * 75, (n + 1) * 75));
        expectValues(full.data.subarray((n * 6 + 3 * g) * 25, (n * 6 + 3 * g + 3) * 25), want, 1e-12);
      }
    }
  });

  const cases: { name: string; x: number[]; w: number[]; bias: boolean; attrs: RefAttrs }[] = [
    { name: 'stride 2, padding 1, bias', x: [2, 3, 7, 6], w: [4, 3, 3, 3], bias: true, attrs: { stride: [2, 2], padding: [1, 1] } },
    { name: 'dilation 2, padding 2, no bias', x: [1, 2, 7, 7], w: [3, 2, 3, 3], bias: false, attrs: { dilation: [2, 2], padding: [2, 2] } },
    { name: 'groups 2, rectangular kernel, stride [1,2]', x: [2, 4, 5, 6], w: [6, 2, 3, 2], bias: true, attrs: { groups: 2, stride: [1, 2], padding: [1, 0] } },
    { name: 'depthwise, channel multiplier 2', x: [1, 3, 5, 5], w: [6, 1, 3, 3], bias: true, attrs: { groups: 3, padding: [1, 1] } },
    { name: '1×1', x: [2, 5, 3, 4], w: [3, 5, 1, 1], bias: true, attrs: {} },
  ];
  for (const [k, c] of cases.entries()) {
    it(`finite differences: ${c.name}`, () => {
      const rng = new Rng(100 + k);
      const inputs: Record<string, RefTensor> = { x: normalT(rng, c.x), weight: normalT(rng, c.w, 0.5) };
      if (c.bias) inputs.bias = normalT(rng, [c.w[0]]);
      fd('conv2d', inputs, c.attrs, 100 + k);
    });
  }
});
