/** Histogram plot (detection/plot.ts): bars on a log scale, one colour per series, bad input refused. */
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { histogramPlotPng, PALETTE, renderHistogramPlot } from '../../detection/plot.ts';

const [W, H] = [640, 360];

/** Per pixel column, the longest vertical run of `color`. */
function longestRuns(px: Uint8Array, color: readonly number[]): number[] {
  return Array.from({ length: W }, (_, x) => {
    let best = 0;
    let run = 0;
    for (let y = 0; y < H; y++) {
      const o = 3 * (y * W + x);
      run = px[o] === color[0] && px[o + 1] === color[1] && px[o + 2] === color[2] ? run + 1 : 0;
      best = Math.max(best, run);
    }
    return best;
  });
}

/** Groups of adjacent columns whose runs exceed `min`: [first column, last column, tallest run]. */
function bars(runs: number[], min: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  runs.forEach((r, x) => {
    if (r <= min) return;
    const last = out.at(-1);
    if (last && last[1] === x - 1) {
      last[1] = x;
      last[2] = Math.max(last[2], r);
    } else out.push([x, x, r]);
  });
  return out;
}

describe('histogram plot', () => {
  it('draws one bar per nonzero bin, heights on a log10 scale', () => {
    // shares 0.5 and 0.01: the axis ends a decade below the smallest, at 0.001, so the bars
    // are log10(0.5/0.001) and log10(0.01/0.001) decades tall: a ratio of 2.699
    const px = renderHistogramPlot([{ name: 'a', values: [0.5, 0, 0, 0.01] }], { width: W, height: H, marker: 0.5 });
    const found = bars(longestRuns(px, PALETTE[0]), 12); // taller than the legend swatch
    expect(found).toHaveLength(2);
    expect(found[0][0]).toBeLessThan(W / 4); // the first bin's bar on the left, the last bin's on the right
    expect(found[1][0]).toBeGreaterThan(W / 2);
    expect(found[0][2] / found[1][2]).toBeCloseTo(Math.log10(500) / Math.log10(10), 1);
  });

  it('puts the series of a bin side by side in their palette colours', () => {
    const px = renderHistogramPlot(
      [
        { name: 'same assigner', values: [0.9, 0.1] },
        { name: 'other assigner', values: [0.6, 0.4] },
      ],
      { width: W, height: H },
    );
    const first = bars(longestRuns(px, PALETTE[0]), 12);
    const second = bars(longestRuns(px, PALETTE[1]), 12);
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(2);
    for (let b = 0; b < 2; b++) expect(second[b][0]).toBeGreaterThan(first[b][1]); // right of its neighbour
    expect(second[1][2]).toBeGreaterThan(first[1][2]); // 0.4 above 0.1
  });

  it('encodes a PNG of the requested size', () => {
    const png = decode(histogramPlotPng([{ name: 'a', values: [1] }], { width: 320, height: 200 }));
    expect([png.width, png.height, png.channels]).toEqual([320, 200, 3]);
  });

  it('refuses bad input, naming it', () => {
    expect(() => renderHistogramPlot([])).toThrow(/no series/);
    expect(() =>
      renderHistogramPlot([
        { name: 'a', values: [0.5] },
        { name: 'b', values: [0.5, 0.5] },
      ]),
    ).toThrow(/same number \(> 0\) of bins, got 1, 2/);
    expect(() => renderHistogramPlot([{ name: 'a', values: [1.5] }])).toThrow(/series 'a' has the value 1.5; values are shares in \[0, 1\]/);
  });
});
