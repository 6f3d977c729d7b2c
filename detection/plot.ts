/**
 * Loss curves as PNG, without a plotting dependency: a white canvas, a light grid with the
 * y value of each grid line and the first and last x written beside the axes (draw.ts's
 * pixel font), one polyline per series (colours listed in PALETTE so reports can give a
 * legend). Values are smoothed by a moving average so the trend is readable. Histograms
 * (e.g. of target conflict) as grouped bars on a log scale.
 */
import { encode } from 'fast-png';
import { drawText, fillRect, GLYPH_HEIGHT, textWidth } from './draw.ts';

export const PALETTE: readonly [number, number, number][] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
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
  const pts = series.map((s) => ({
    x: s.x,
    y: movingAverage(
      s.y.map((v) => (Number.isFinite(v) ? v : 0)),
      smooth,
    ),
  }));
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

/** A histogram series: the share of items per bin, bins evenly covering [0, 1]. */
export interface HistogramSeries {
  name: string;
  values: readonly number[];
}

/**
 * RGB pixels of grouped histogram bars over [0, 1] on a log10 y axis (decade grid lines
 * labelled in percent, so small tails stay visible next to a large first bin), one colour
 * per series (PALETTE order, with a legend), and an optional vertical marker line (e.g.
 * the conflict threshold 0.5). Zero values draw no bar.
 */
export function renderHistogramPlot(series: readonly HistogramSeries[], opts: { width?: number; height?: number; marker?: number } = {}): Uint8Array {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  if (series.length === 0) throw new Error('renderHistogramPlot: no series');
  const bins = series[0].values.length;
  if (bins === 0 || series.some((s) => s.values.length !== bins))
    throw new Error(`renderHistogramPlot: every series needs the same number (> 0) of bins, got ${series.map((s) => s.values.length).join(', ')}`);
  for (const s of series)
    for (const v of s.values)
      if (!(v >= 0 && v <= 1)) throw new Error(`renderHistogramPlot: series '${s.name}' has the value ${v}; values are shares in [0, 1]`);
  const px = new Uint8Array(width * height * 3).fill(255);
  const canvas = { width, height, data: px };
  const positive = series.flatMap((s) => s.values.filter((v) => v > 0));
  // decades from below the smallest nonzero share (down to 1e-6) up to 100%
  // the axis ends a decade below the smallest share, so its bar still shows
  const lowDecade = Math.max(-6, Math.ceil(Math.log10(Math.min(1, ...positive))) - 1);
  const decades = Array.from({ length: -lowDecade + 1 }, (_, k) => -k);
  const percent = (d: number) => `${tickLabel(100 * 10 ** d)}%`;
  const textH = GLYPH_HEIGHT * LABEL_SCALE;
  const left = 12 + Math.max(...decades.map((d) => textWidth(percent(d), LABEL_SCALE)));
  const legendH = series.length * (textH + 4);
  const [right, top, bottom] = [16, 16 + legendH, 16 + textH];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  if (plotW < bins * series.length || plotH < 10)
    throw new Error(`renderHistogramPlot: ${width}×${height} is too small for ${bins} bins × ${series.length} series`);
  const sy = (v: number) => top + Math.min(1, Math.log10(v) / lowDecade) * plotH;
  for (const d of decades) {
    const y = Math.round(sy(10 ** d));
    fillRect(canvas, left, y, width - right, y + 1, [225, 225, 225]);
    drawText(canvas, left - 6 - textWidth(percent(d), LABEL_SCALE), y - textH / 2, percent(d), TEXT_COLOR, LABEL_SCALE);
  }
  const binW = plotW / bins;
  const barW = Math.max(1, Math.floor((binW - 2) / series.length));
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    s.values.forEach((v, b) => {
      if (v <= 0) return;
      const x0 = Math.round(left + b * binW + 1 + k * barW);
      fillRect(canvas, x0, Math.round(sy(v)), x0 + barW, height - bottom, color);
    });
    const ly = 8 + k * (textH + 4);
    fillRect(canvas, left, ly, left + textH, ly + textH, color);
    drawText(canvas, left + textH + 6, ly, s.name, TEXT_COLOR, LABEL_SCALE);
  });
  fillRect(canvas, left, height - bottom, width - right, height - bottom + 1, AXIS_COLOR);
  fillRect(canvas, left, top, left + 1, height - bottom, AXIS_COLOR);
  const xTicks = [0, ...(opts.marker !== undefined ? [opts.marker] : []), 1];
  for (const t of xTicks) {
    const x = Math.round(left + t * plotW);
    const label = tickLabel(t);
    drawText(
      canvas,
      Math.min(Math.max(x - textWidth(label, LABEL_SCALE) / 2, left), width - right - textWidth(label, LABEL_SCALE)),
      height - bottom + 4,
      label,
      TEXT_COLOR,
      LABEL_SCALE,
    );
  }
  if (opts.marker !== undefined) {
    const x = Math.round(left + opts.marker * plotW);
    for (let y = top; y < height - bottom; y += 6) fillRect(canvas, x, y, x + 1, y + 3, AXIS_COLOR);
  }
  return px;
}

export function histogramPlotPng(series: readonly HistogramSeries[], opts: { width?: number; height?: number; marker?: number } = {}): Uint8Array {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  return encode({ width, height, data: renderHistogramPlot(series, { ...opts, width, height }), channels: 3, depth: 8 });
}
