/**
 * Loss curves as PNG, without a plotting dependency: a white canvas, a light grid, one
 * polyline per series (colours listed in PALETTE so reports can give a legend). Values are
 * smoothed by a moving average so the trend is readable.
 */
import { encode } from 'fast-png';

export const PALETTE: readonly [number, number, number][] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
}

function movingAverage(y: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    sum += y[i];
    if (i >= window) sum -= y[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

/** RGB pixels of a line chart; `smooth` is the moving-average window in points. */
export function renderLinePlot(series: readonly Series[], width = 640, height = 360, smooth = 10): Uint8Array {
  const px = new Uint8Array(width * height * 3).fill(255);
  const margin = 24;
  const pts = series.map((s) => ({ x: s.x, y: movingAverage(s.y.map((v) => (Number.isFinite(v) ? v : 0)), smooth) }));
  const xs = pts.flatMap((p) => p.x);
  const ys = pts.flatMap((p) => p.y);
  if (xs.length === 0) return px;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const sx = (x: number) => margin + ((x - x0) / Math.max(x1 - x0, 1e-9)) * (width - 2 * margin);
  const sy = (y: number) => height - margin - ((y - y0) / Math.max(y1 - y0, 1e-9)) * (height - 2 * margin);
  const set = (x: number, y: number, c: readonly number[]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    px.set(c, (yi * width + xi) * 3);
  };
  const line = (ax: number, ay: number, bx: number, by: number, c: readonly number[]) => {
    const n = Math.max(Math.abs(bx - ax), Math.abs(by - ay), 1);
    for (let k = 0; k <= n; k++) set(ax + ((bx - ax) * k) / n, ay + ((by - ay) * k) / n, c);
  };
  for (let g = 0; g <= 4; g++) {
    const y = margin + (g * (height - 2 * margin)) / 4;
    line(margin, y, width - margin, y, [225, 225, 225]);
  }
  line(margin, height - margin, width - margin, height - margin, [0, 0, 0]);
  line(margin, margin, margin, height - margin, [0, 0, 0]);
  pts.forEach((p, k) => {
    const c = PALETTE[k % PALETTE.length];
    for (let i = 1; i < p.x.length; i++) {
      line(sx(p.x[i - 1]), sy(p.y[i - 1]), sx(p.x[i]), sy(p.y[i]), c);
      line(sx(p.x[i - 1]), sy(p.y[i - 1]) + 1, sx(p.x[i]), sy(p.y[i]) + 1, c);
    }
  });
  return px;
}

export function linePlotPng(series: readonly Series[], width = 640, height = 360, smooth = 10): Uint8Array {
  return encode({ width, height, data: renderLinePlot(series, width, height, smooth), channels: 3, depth: 8 });
}
