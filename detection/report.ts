/**
 * Run reports: one self-contained HTML page (inline CSS, every image a data: URI, so the
 * file can be mailed or opened from anywhere) with loss curves, the COCO mAP table,
 * per-class AP and validation images with their ground truth and predictions drawn, plus
 * the same plots and images as PNG files to write next to it.
 *
 * Pure functions (no DOM, no Node APIs): the caller writes the files. The trainer writes a
 * report per training run, the experiment runner one comparing its runs.
 */
import { encode as encodePng } from 'fast-png';
import type { DetectionDataset, RgbImage } from './data/coco.ts';
import { classColor, drawBox, drawDetections, drawLabel, type PixelRect } from './draw.ts';
import type { CocoEvalResult } from './eval/coco.ts';
import { linePlotPng, PALETTE, type Series } from './plot.ts';
import type { Detections } from './postprocess.ts';

/** A file of the report besides report.html (a plot or a sample image), relative name and bytes. */
export interface ReportFile {
  name: string;
  bytes: Uint8Array;
}

export interface Report {
  html: string;
  /** the PNGs embedded in the page, to write next to it */
  files: ReportFile[];
}

/** The COCO figures a report shows (those of metrics.json's `eval`). */
export type ReportMetrics = Pick<CocoEvalResult, 'mAP' | 'mAP50' | 'mAP75' | 'mAP_s' | 'mAP_m' | 'mAP_l' | 'per_class'>;

export const METRIC_KEYS = ['mAP', 'mAP50', 'mAP75', 'mAP_s', 'mAP_m', 'mAP_l'] as const;

/** How a report prints an AP: three decimals as pycocotools does; '–' for -1 (no ground truth in that range). */
export function formatAp(v: number): string {
  return v < 0 ? '–' : v.toFixed(3);
}

// ------------------------------------------------------------------ HTML helpers

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function base64(bytes: Uint8Array): string {
  let binary = '';
  // chunks keep String.fromCharCode's argument list short
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const pngDataUri = (bytes: Uint8Array) => `data:image/png;base64,${base64(bytes)}`;

function table(head: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function legend(names: readonly string[]): string {
  return `<p class="legend">${names
    .map((n, k) => `<span><i style="background:rgb(${PALETTE[k % PALETTE.length].join(',')})"></i>${escapeHtml(n)}</span>`)
    .join(' ')}</p>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.meta { color: #555; } .legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
figure { display: inline-block; margin: 6px 10px 10px 0; vertical-align: top; } figcaption { font-size: 12px; color: #555; }
img.plot { max-width: 100%; border: 1px solid #ddd; } img.sample { image-rendering: pixelated; border: 1px solid #ddd; }
`;

function page(title: string, body: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body>',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ sample images

/** Nearest-neighbour enlargement, so small images and the 3×5 font stay readable. */
export function upscale(img: RgbImage, factor: number): RgbImage {
  const f = Math.max(1, Math.round(factor));
  const out: RgbImage = { width: img.width * f, height: img.height * f, data: new Uint8Array(3 * img.width * f * img.height * f) };
  for (let y = 0; y < out.height; y++) {
    const sy = Math.floor(y / f);
    for (let x = 0; x < out.width; x++) {
      const s = 3 * (sy * img.width + Math.floor(x / f));
      const o = 3 * (y * out.width + x);
      out.data[o] = img.data[s];
      out.data[o + 1] = img.data[s + 1];
      out.data[o + 2] = img.data[s + 2];
    }
  }
  return out;
}

const scaleBoxes = (boxes: ArrayLike<number>, f: number) => Float64Array.from(boxes, (v) => v * f);

/** The ground truth of one image drawn in class colours, labelled with class names. */
export function drawGroundTruth(img: RgbImage, boxes: ArrayLike<number>, labels: ArrayLike<number>, classNames: readonly string[], scale = 1): void {
  const placed: PixelRect[] = [];
  for (let i = 0; i < labels.length; i++) drawBox(img, [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]], classColor(labels[i]), scale);
  for (let i = 0; i < labels.length; i++)
    drawLabel(img, Math.round(boxes[4 * i]), Math.round(boxes[4 * i + 1]), classNames[labels[i]] ?? String(labels[i]), classColor(labels[i]), scale, placed);
}

export interface SamplePanel {
  /** file name of the image in the dataset */
  fileName: string;
  /** PNG bytes */
  png: Uint8Array;
  caption: string;
}

export interface SampleOptions {
  /** how many validation images (the first ones; default 4) */
  count?: number;
  /** detections scoring at least this are drawn (default 0.3) */
  scoreThr?: number;
  /** enlargement so that boxes and labels are readable (default: to about 256 px) */
  scale?: number;
}

/** Enlargement of an image of this size to about 256 pixels on its longer side (at least 1). */
const autoScale = (img: RgbImage) => Math.max(1, Math.round(256 / Math.max(img.width, img.height)));

/** The ground-truth panel of validation image `index`. */
export function groundTruthPanel(dataset: DetectionDataset, index: number, opts: SampleOptions = {}): SamplePanel {
  const record = dataset.records[index];
  const src = dataset.image(index);
  const f = opts.scale ?? autoScale(src);
  const img = upscale(src, f);
  const names = dataset.categories.map((c) => c.name);
  drawGroundTruth(img, scaleBoxes(record.boxes, f), record.labels, names, Math.max(1, Math.round(f / 2)));
  return {
    fileName: record.fileName,
    png: encodePng({ ...img, channels: 3, depth: 8 }),
    caption: `${record.fileName}: ground truth (${record.labels.length} boxes)`,
  };
}

/** The panel of validation image `index` with detections `dets` drawn (boxes in its pixels). */
export function predictionPanel(dataset: DetectionDataset, index: number, dets: Detections, opts: SampleOptions & { who?: string } = {}): SamplePanel {
  const record = dataset.records[index];
  const src = dataset.image(index);
  const f = opts.scale ?? autoScale(src);
  const thr = opts.scoreThr ?? 0.3;
  const img = upscale(src, f);
  const scaled: Detections = { bboxes: scaleBoxes(dets.bboxes, f), scores: dets.scores, labels: dets.labels };
  const drawn = drawDetections(img, scaled, {
    scoreThr: thr,
    classNames: dataset.categories.map((c) => c.name),
    thickness: Math.max(1, Math.round(f / 2)),
    fontScale: Math.max(1, Math.round(f / 2)),
  });
  const best = dets.scores.length ? Math.max(...dets.scores) : 0;
  return {
    fileName: record.fileName,
    png: encodePng({ ...img, channels: 3, depth: 8 }),
    caption: `${opts.who ? `${opts.who}: ` : ''}${drawn.length} prediction(s) with score ≥ ${thr} (best ${best.toFixed(2)})`,
  };
}

function figure(uri: string, caption: string, cls: string, alt: string): string {
  return `<figure><img class="${cls}" src="${uri}" alt="${escapeHtml(alt)}"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

// ------------------------------------------------------------------ training run

export interface LossPoint {
  step: number;
  lr: number;
  [term: string]: number;
}

export interface RunReportInput {
  name: string;
  /** lines shown under the title (steps, time, throughput, ...) */
  facts: readonly string[];
  losses: readonly LossPoint[];
  /** null when the run was not evaluated (stopped early, or evaluation off) */
  metrics: ReportMetrics | null;
  /** the validation set and the detections of its first images (in dataset order); null without evaluation */
  samples: { dataset: DetectionDataset; detections: readonly Detections[] } | null;
  sampleOptions?: SampleOptions;
  /** mAP by step when the run was evaluated along the way (plotted from two points on) */
  curve?: readonly { step: number; mAP: number }[];
}

/** A chart of mAP (%) against training step, one line per series, drawn from the points as they are. */
export interface CurvePanel {
  title: string;
  /** the PNG's file name */
  file: string;
  series: readonly { name: string; points: readonly { step: number; mAP: number }[] }[];
}

function curveFigure(panel: CurvePanel, files: ReportFile[]): string[] {
  const png = linePlotPng(
    panel.series.map((c) => ({ name: c.name, x: c.points.map((p) => p.step), y: c.points.map((p) => 100 * p.mAP) })),
    640,
    360,
    1,
  );
  files.push({ name: panel.file, bytes: png });
  return [
    legend(panel.series.map((c) => c.name)),
    figure(pngDataUri(png), `${panel.title}: mAP (%) on the validation set by training step; ${panel.file}`, 'plot', panel.title),
  ];
}

/** The loss terms of a loss history: every key but step and lr, in first-seen order. */
export function lossTerms(losses: readonly LossPoint[]): string[] {
  const terms = new Set<string>();
  for (const l of losses) for (const k of Object.keys(l)) if (k !== 'step' && k !== 'lr') terms.add(k);
  return [...terms];
}

function mapTable(rows: readonly [string, ReportMetrics][]): string {
  return table(
    ['model', ...METRIC_KEYS],
    rows.map(([name, m]) => [name, ...METRIC_KEYS.map((k) => formatAp(m[k]))]),
    'map',
  );
}

function perClassTable(rows: readonly [string, ReportMetrics][]): string {
  const classes = [...new Set(rows.flatMap(([, m]) => Object.keys(m.per_class)))];
  return table(
    ['class', ...rows.map(([n]) => n)],
    classes.map((c) => [c, ...rows.map(([, m]) => (c in m.per_class ? formatAp(m.per_class[c]) : ''))]),
    'per-class',
  );
}

/** The report of one training run. */
export function buildRunReport(input: RunReportInput): Report {
  const files: ReportFile[] = [];
  const body: string[] = [`<h1>Training run: ${escapeHtml(input.name)}</h1>`, ...input.facts.map((f) => `<p class="meta">${escapeHtml(f)}</p>`)];

  body.push('<h2>Loss curves</h2>');
  if (input.losses.length === 0) body.push('<p>No loss was recorded.</p>');
  else {
    const terms = lossTerms(input.losses);
    const x = input.losses.map((l) => l.step);
    const series: Series[] = terms.map((t) => ({ name: t, x, y: input.losses.map((l) => l[t] ?? Number.NaN) }));
    const lossPng = linePlotPng(series);
    const lrPng = linePlotPng([{ name: 'lr', x, y: input.losses.map((l) => l.lr) }], 640, 240, 1);
    files.push({ name: 'losses.png', bytes: lossPng }, { name: 'lr.png', bytes: lrPng });
    const smooth = Math.min(10, input.losses.length);
    body.push(legend(terms));
    body.push(figure(pngDataUri(lossPng), `loss terms by step (moving average over ${smooth} logged points); losses.png`, 'plot', 'loss curves'));
    body.push(figure(pngDataUri(lrPng), 'learning rate by step; lr.png', 'plot', 'learning rate'));
  }

  if (input.curve && input.curve.length >= 2) {
    body.push(
      '<h2>mAP along the way</h2>',
      ...curveFigure({ title: 'mAP curve', file: 'map-curve.png', series: [{ name: input.name, points: input.curve }] }, files),
    );
    body.push(
      table(
        ['step', 'mAP'],
        input.curve.map((p) => [String(p.step), formatAp(p.mAP)]),
        'curve',
      ),
    );
  }

  body.push('<h2>COCO-style evaluation on the validation set</h2>');
  if (!input.metrics) body.push('<p>Not evaluated (the run stopped before its last step, or evaluation was off).</p>');
  else {
    body.push(mapTable([[input.name, input.metrics]]));
    body.push('<h3>AP per class</h3>', perClassTable([[input.name, input.metrics]]));
  }

  body.push('<h2>Validation images</h2>');
  if (!input.samples) body.push('<p>No predictions (not evaluated).</p>');
  else {
    const n = Math.min(input.sampleOptions?.count ?? 4, input.samples.detections.length, input.samples.dataset.records.length);
    body.push('<p>Left: ground truth; right: predictions (label and score), per image.</p>');
    for (let i = 0; i < n; i++) {
      const gt = groundTruthPanel(input.samples.dataset, i, input.sampleOptions);
      const pred = predictionPanel(input.samples.dataset, i, input.samples.detections[i], input.sampleOptions);
      files.push({ name: `sample-${i}-gt.png`, bytes: gt.png }, { name: `sample-${i}-pred.png`, bytes: pred.png });
      body.push(
        `<div class="sample">${figure(pngDataUri(gt.png), gt.caption, 'sample', `ground truth of ${gt.fileName}`)}${figure(pngDataUri(pred.png), pred.caption, 'sample', `predictions on ${pred.fileName}`)}</div>`,
      );
    }
  }
  return { html: page(`${input.name}: training report`, body), files };
}

// ------------------------------------------------------------------ experiment

export interface ExperimentReportRun {
  name: string;
  /** total loss by step */
  losses: readonly { step: number; total: number }[];
  metrics: ReportMetrics;
  seconds: number;
  /** this run's detections on the first validation images */
  sampleDetections: readonly Detections[];
}

export interface ExperimentReportInput {
  title: string;
  facts: readonly string[];
  teachers: readonly { name: string; metrics: ReportMetrics | null }[];
  runs: readonly ExperimentReportRun[];
  /** the validation set the runs were evaluated on */
  dataset: DetectionDataset | null;
  sampleOptions?: SampleOptions;
  /** mAP-vs-step charts (runs evaluated along the way), after the loss curves */
  curves?: readonly CurvePanel[];
}

/** One page comparing the runs of an experiment: loss curves, mAP and per-class tables, samples per run. */
export function buildExperimentReport(input: ExperimentReportInput): Report {
  const files: ReportFile[] = [];
  const body: string[] = [`<h1>${escapeHtml(input.title)}</h1>`, ...input.facts.map((f) => `<p class="meta">${escapeHtml(f)}</p>`)];

  body.push('<h2>Loss curves (total loss)</h2>');
  const plotted = input.runs.slice(0, PALETTE.length);
  if (plotted.length === 0) body.push('<p>No run has finished yet.</p>');
  else {
    const png = linePlotPng(plotted.map((r) => ({ name: r.name, x: r.losses.map((l) => l.step), y: r.losses.map((l) => l.total) })));
    files.push({ name: 'losses.png', bytes: png });
    body.push(legend(plotted.map((r) => r.name)));
    if (input.runs.length > plotted.length) body.push(`<p>The first ${plotted.length} of ${input.runs.length} runs are plotted.</p>`);
    body.push(figure(pngDataUri(png), 'total loss by step (moving average over 10 logged points); losses.png', 'plot', 'loss curves'));
  }

  const curves = (input.curves ?? []).filter((p) => p.series.some((c) => c.points.length >= 2));
  if (curves.length > 0) {
    body.push('<h2>mAP along the way</h2>');
    for (const panel of curves) body.push(`<h3>${escapeHtml(panel.title)}</h3>`, ...curveFigure(panel, files));
  }

  const rows: [string, ReportMetrics][] = [
    ...input.teachers.filter((t) => t.metrics).map((t) => [`teacher ${t.name}`, t.metrics!] as [string, ReportMetrics]),
    ...input.runs.map((r) => [r.name, r.metrics] as [string, ReportMetrics]),
  ];
  body.push('<h2>COCO-style evaluation on the validation set</h2>');
  if (rows.length === 0) body.push('<p>Nothing evaluated yet.</p>');
  else {
    body.push(mapTable(rows));
    body.push(
      table(
        ['run', 'train s'],
        input.runs.map((r) => [r.name, r.seconds.toFixed(0)]),
        'times',
      ),
    );
    body.push('<h3>AP per class</h3>', perClassTable(rows));
  }

  body.push('<h2>Validation images</h2>');
  if (!input.dataset || input.runs.length === 0) body.push('<p>No predictions yet.</p>');
  else {
    const n = Math.min(input.sampleOptions?.count ?? 3, input.dataset.records.length, ...input.runs.map((r) => r.sampleDetections.length));
    body.push('<p>Per image: the ground truth, then each run’s predictions.</p>');
    for (let i = 0; i < n; i++) {
      const gt = groundTruthPanel(input.dataset, i, input.sampleOptions);
      files.push({ name: `sample-${i}-gt.png`, bytes: gt.png });
      const figs = [figure(pngDataUri(gt.png), gt.caption, 'sample', `ground truth of ${gt.fileName}`)];
      input.runs.forEach((r, k) => {
        const pred = predictionPanel(input.dataset!, i, r.sampleDetections[i], { ...input.sampleOptions, who: r.name });
        files.push({ name: `sample-${i}-run${k}.png`, bytes: pred.png });
        figs.push(figure(pngDataUri(pred.png), pred.caption, 'sample', `${r.name} on ${pred.fileName}`));
      });
      body.push(`<div class="sample">${figs.join('')}</div>`);
    }
  }
  return { html: page(input.title, body), files };
}
