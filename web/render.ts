/**
 * Pictures of the web page as RGB images (detection/draw.ts and detection/plot.ts do the
 * drawing, as for the PNGs of the command-line scripts), and the one step to a canvas.
 */
import type { RgbImage } from '../detection/data/coco.ts';
import { drawDetections } from '../detection/draw.ts';
import type { Detections } from '../detection/postprocess.ts';
import { drawGroundTruth, upscale } from '../detection/report.ts';

/** Shows an RGB image on a canvas at its own size. */
export function paint(canvas: HTMLCanvasElement, img: RgbImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    rgba[j] = img.data[i];
    rgba[j + 1] = img.data[i + 1];
    rgba[j + 2] = img.data[i + 2];
    rgba[j + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
}

/** Which detections the page draws: the best DRAW_MAX scoring at least DRAW_SCORE_THR. */
export const DRAW_SCORE_THR = 0.05;
export const DRAW_MAX = 8;

/** The best `max` detections (scores descending), boxes scaled by `f`. */
function best(dets: Detections, max: number, f: number): Detections {
  const order = Array.from(dets.scores.keys())
    .sort((a, b) => dets.scores[b] - dets.scores[a])
    .slice(0, max);
  return {
    scores: Float64Array.from(order, (i) => dets.scores[i]),
    labels: Int32Array.from(order, (i) => dets.labels[i]),
    bboxes: Float64Array.from(order.flatMap((i) => [0, 1, 2, 3].map((k) => dets.bboxes[4 * i + k] * f))),
  };
}

/**
 * The image enlarged `scale` times with its best detections drawn (a model a few steps
 * into training scores far below the usual 0.3, hence the low threshold: the boxes show
 * what it has learned so far, their scores how sure it is).
 */
export function detectionsPicture(src: RgbImage, dets: Detections, classNames: readonly string[], scale: number): { img: RgbImage; drawn: number } {
  const img = upscale(src, scale);
  const drawn = drawDetections(img, best(dets, DRAW_MAX, scale), { classNames, scoreThr: DRAW_SCORE_THR, thickness: Math.max(1, Math.round(scale / 2)) });
  return { img, drawn: drawn.length };
}

/** The image enlarged `scale` times with its ground-truth boxes (x1,y1,x2,y2 flat). */
export function groundTruthPicture(src: RgbImage, boxes: ArrayLike<number>, labels: ArrayLike<number>, classNames: readonly string[], scale: number): RgbImage {
  const img = upscale(src, scale);
  drawGroundTruth(
    img,
    Float64Array.from(boxes, (v) => v * scale),
    labels,
    classNames,
    Math.max(1, Math.round(scale / 2)),
  );
  return img;
}

export interface ChartSeries {
  name: string;
  color: readonly [number, number, number];
  /** y[i] is the value at step i + 1 */
  y: readonly number[];
}

/**
 * The live loss chart, drawn with the canvas API: unlike detection/plot.ts (PNG plots from
 * 0 up), its y axis spans the data, so the small early fall of a short run is visible. Each
 * series is drawn faint as measured and, when `smooth` > 1, solid as a moving average.
 */
export function drawLossChart(canvas: HTMLCanvasElement, series: readonly ChartSeries[], smooth: number): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const values = series.flatMap((s) => s.y.filter(Number.isFinite));
  if (values.length === 0) return;
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  const pad = Math.max((hi - lo) * 0.05, Math.abs(hi) * 1e-3, 1e-6);
  [lo, hi] = [lo - pad, hi + pad];
  const steps = Math.max(2, ...series.map((s) => s.y.length));
  const [left, right, top, bottom] = [64, 12, 10, 24];
  const sx = (i: number) => left + ((i - 1) / (steps - 1)) * (width - left - right);
  const sy = (v: number) => top + ((hi - v) / (hi - lo)) * (height - top - bottom);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#5b6575';
  ctx.strokeStyle = '#e3e6eb';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const v = hi - (k * (hi - lo)) / 4;
    ctx.beginPath();
    ctx.moveTo(left, sy(v));
    ctx.lineTo(width - right, sy(v));
    ctx.stroke();
    ctx.fillText(v.toPrecision(4), left - 6, sy(v));
  }
  ctx.textBaseline = 'top';
  const xTicks: [number, CanvasTextAlign][] = [
    [1, 'left'],
    [Math.round((1 + steps) / 2), 'center'],
    [steps, 'right'],
  ];
  for (const [i, align] of xTicks) {
    ctx.textAlign = align;
    ctx.fillText(`step ${i}`, sx(i), height - bottom + 6);
  }
  const line = (y: readonly number[], stroke: string, lineWidth: number) => {
    ctx.strokeStyle = stroke;
    ctx.lineWidth = lineWidth;
    ctx.beginPath();
    y.forEach((v, i) => (i === 0 ? ctx.moveTo(sx(i + 1), sy(v)) : ctx.lineTo(sx(i + 1), sy(v))));
    ctx.stroke();
  };
  for (const s of series) {
    const [r, g, b] = s.color;
    // the newest value as a dot, so a series shows from its first step
    if (s.y.length > 0) {
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.beginPath();
      ctx.arc(sx(s.y.length), sy(s.y[s.y.length - 1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (smooth <= 1) {
      line(s.y, `rgb(${r},${g},${b})`, 2);
      continue;
    }
    line(s.y, `rgba(${r},${g},${b},0.3)`, 1);
    line(movingAverage(s.y, smooth), `rgb(${r},${g},${b})`, 2);
  }
}

function movingAverage(y: readonly number[], window: number): number[] {
  let sum = 0;
  return y.map((v, i) => {
    sum += v - (i >= window ? y[i - window] : 0);
    return sum / Math.min(i + 1, window);
  });
}

/** A colour for a conflict in [0, 1]: dark blue (agreement) through orange to red (> 0.5 conflicts). */
export function heatColor(v: number): [number, number, number] {
  const stops: [number, [number, number, number]][] = [
    [0, [20, 30, 110]],
    [0.25, [60, 120, 200]],
    [0.5, [250, 200, 60]],
    [0.75, [240, 110, 30]],
    [1, [200, 10, 20]],
  ];
  const x = Math.min(1, Math.max(0, v));
  for (let k = 1; k < stops.length; k++) {
    const [x1, c1] = stops[k];
    const [x0, c0] = stops[k - 1];
    if (x <= x1) {
      const t = (x - x0) / (x1 - x0);
      return [0, 1, 2].map((i) => Math.round(c0[i] + t * (c1[i] - c0[i]))) as [number, number, number];
    }
  }
  return stops[stops.length - 1][1];
}

/**
 * One FPN level's conflict map over the image: each location's cell (stride × stride
 * pixels) tinted by its conflict, the image showing through in grey; locations that take
 * no part (NaN) are left grey. `scale` enlarges the result.
 */
export function conflictPicture(src: RgbImage, map: { stride: number; width: number; values: Float32Array }, scale: number, opacity = 0.7): RgbImage {
  const img = upscale(src, scale);
  for (let y = 0; y < img.height; y++) {
    const cy = Math.floor(y / scale / map.stride);
    for (let x = 0; x < img.width; x++) {
      const o = 3 * (y * img.width + x);
      const grey = 0.299 * img.data[o] + 0.587 * img.data[o + 1] + 0.114 * img.data[o + 2];
      const v = map.values[cy * map.width + Math.floor(x / scale / map.stride)];
      const tint = Number.isNaN(v) ? null : heatColor(v);
      for (let c = 0; c < 3; c++) img.data[o + c] = Math.round(tint ? (1 - opacity) * grey + opacity * tint[c] : 0.6 * grey + 60);
    }
  }
  return img;
}
