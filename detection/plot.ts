/**
 * Loss curves as PNG, without a plotting dependency: a white canvas, a light grid with the
 * y value of each grid line and the first and last x written beside the axes (draw.ts's
 * pixel font), one polyline per series (colours listed in PALETTE so reports can give a
 * legend). Values are smoothed by a moving average so the trend is readable.
 */
import { encode } from 'fast-png';
import { drawText, GLYPH_HEIGHT, textWidth } from './draw.ts';

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

/** A tick label: at most 4 significant digits, no exponent for everyday magnitudes. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

const LABEL_SCALE = 2;
const AXIS_COLOR = [0, 0, 0] as const;
const TEXT_COLOR = [60, 60, 60] as const;

/** RGB pixels of a line chart; `smooth` is the moving-average window in points. */
export function renderLinePlot(series: readonly Series[], width = 640, height = 360, smooth = 10): Uint8Array {
  const px = new Uint8Array(width * height * 3).fill(255);
  const pts = series.map((s) => ({ x: s.x, y: movingAverage(s.y.map((v) => (Number.isFinite(v) ? v : 0)), smooth) }));
  const xs = pts.flatMap((p) => p.x);
  const ys = pts.flatMap((p) => p.y);
  if (xs.length === 0) return px;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const yTicks = Array.from({ length: 5 }, (_, g) => y1 - (g * (y1 - y0)) / 4);
  const textH = GLYPH_HEIGHT * LABEL_SCALE;
  // room for the widest y label on the left and one line of x labels below
  const left = 12 + Math.max(...yTicks.map((v) => textWidth(tickLabel(v), LABEL_SCALE)));
  const [right, top, bottom] = [16, 16, 16 + textH];
  const sx = (x: number) => left + ((x - x0) / Math.max(x1 - x0, 1e-9)) * (width - left - right);
  const sy = (y: number) => height - bottom - ((y - y0) / Math.max(y1 - y0, 1e-9)) * (height - top - bottom);
  const canvas = { width, height, data: px };
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
  for (const v of yTicks) {
    const y = sy(v);
    line(left, y, width - right, y, [225, 225, 225]);
    const label = tickLabel(v);
    drawText(canvas, left - 6 - textWidth(label, LABEL_SCALE), Math.round(y - textH / 2), label, TEXT_COLOR, LABEL_SCALE);
  }
  line(left, height - bottom, width - right, height - bottom, AXIS_COLOR);
  line(left, top, left, height - bottom, AXIS_COLOR);
  const xFirst = tickLabel(x0);
  const xLast = tickLabel(x1);
  drawText(canvas, left, height - bottom + 4, xFirst, TEXT_COLOR, LABEL_SCALE);
  if (x1 !== x0) drawText(canvas, width - right - textWidth(xLast, LABEL_SCALE), height - bottom + 4, xLast, TEXT_COLOR, LABEL_SCALE);
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
