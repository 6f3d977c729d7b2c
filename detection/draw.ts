/**
 * Drawing detections on an 8-bit RGB image (HWC, as RgbImage in data/coco.ts): box
 * outlines in a per-class colour and a filled label tag with text in a built-in 3×5 pixel
 * font (A–Z, 0–9 and a little punctuation; lower case is drawn as upper case). Pure
 * functions on the pixel array, no DOM and no Node APIs, so the browser demo and run
 * reports can reuse them.
 *
 * Coordinates: pixel (x, y) covers [x, x+1) × [y, y+1). A box (x1, y1, x2, y2) in the
 * detector's continuous coordinates covers the pixels x in [round(x1), round(x2)) and
 * y in [round(y1), round(y2)); its outline is drawn inside that region. Everything is
 * clipped to the image.
 */
import type { RgbImage } from './data/coco.ts';
import type { Detections } from './postprocess.ts';

export type Rgb = readonly [number, number, number];

/** Distinct, saturated colours for the first classes; later ones step round the hue circle. */
const PALETTE: readonly Rgb[] = [
  [230, 25, 75], // red
  [60, 180, 75], // green
  [255, 225, 25], // yellow
  [0, 130, 200], // blue
  [245, 130, 48], // orange
  [145, 30, 180], // purple
  [70, 240, 240], // cyan
  [240, 50, 230], // magenta
  [210, 245, 60], // lime
  [250, 190, 212], // pink
  [0, 128, 128], // teal
  [170, 110, 40], // brown
];

/** The colour of class `label` (stable: the same class always gets the same colour). */
export function classColor(label: number): Rgb {
  if (label >= 0 && label < PALETTE.length) return PALETTE[label];
  // golden-ratio hue steps for classes beyond the palette
  const h = (((label * 0.618033988749895) % 1) + 1) % 1;
  return hsv(h, 0.85, 0.95);
}

function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Black or white, whichever reads better on `bg` (Rec. 601 luma). */
export function textColorOn(bg: Rgb): Rgb {
  return 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2] > 140 ? [0, 0, 0] : [255, 255, 255];
}

function checkImage(img: RgbImage): void {
  if (img.data.length !== 3 * img.width * img.height) throw new Error(`draw: image data holds ${img.data.length} bytes, expected 3·${img.width}·${img.height}`);
}

/** Fills the pixels x in [x0, x1), y in [y0, y1) (integers; clipped to the image). */
export function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const xa = Math.max(0, Math.floor(x0));
  const ya = Math.max(0, Math.floor(y0));
  const xb = Math.min(img.width, Math.floor(x1));
  const yb = Math.min(img.height, Math.floor(y1));
  const d = img.data;
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = 3 * (y * img.width + x);
      d[o] = color[0];
      d[o + 1] = color[1];
      d[o + 2] = color[2];
    }
  }
}

/**
 * The outline of box (x1, y1, x2, y2), `thickness` pixels wide, inside the pixel region
 * [round(x1), round(x2)) × [round(y1), round(y2)). A box thinner than twice the thickness
 * is filled.
 */
export function drawBox(img: RgbImage, box: ArrayLike<number>, color: Rgb, thickness = 2): void {
  checkImage(img);
  const x0 = Math.round(box[0]);
  const y0 = Math.round(box[1]);
  const x1 = Math.round(box[2]);
  const y1 = Math.round(box[3]);
  if (x1 <= x0 || y1 <= y0) return;
  const t = Math.max(1, Math.round(thickness));
  fillRect(img, x0, y0, x1, Math.min(y1, y0 + t), color); // top
  fillRect(img, x0, Math.max(y0, y1 - t), x1, y1, color); // bottom
  fillRect(img, x0, y0, Math.min(x1, x0 + t), y1, color); // left
  fillRect(img, Math.max(x0, x1 - t), y0, x1, y1, color); // right
}

// ------------------------------------------------------------------ 3×5 font

/**
 * Each glyph is 5 rows, top to bottom, one octal digit per row: 4 = left pixel,
 * 2 = middle, 1 = right.
 */
const FONT: Record<string, string> = {
  '0': '75557',
  '1': '26227',
  '2': '71747',
  '3': '71317',
  '4': '55711',
  '5': '74717',
  '6': '74757',
  '7': '71122',
  '8': '75757',
  '9': '75717',
  A: '25755',
  B: '65656',
  C: '34443',
  D: '65556',
  E: '74647',
  F: '74644',
  G: '34553',
  H: '55755',
  I: '72227',
  J: '11152',
  K: '55655',
  L: '44447',
  M: '57755',
  N: '65555',
  O: '25552',
  P: '65644',
  Q: '25573',
  R: '65655',
  S: '34216',
  T: '72222',
  U: '55557',
  V: '55552',
  W: '55775',
  X: '55255',
  Y: '55222',
  Z: '71247',
  ' ': '00000',
  '.': '00002',
  ',': '00022',
  '-': '00700',
  _: '00007',
  ':': '02020',
  '%': '51245',
  '/': '11244',
  '(': '24442',
  ')': '21112',
  '#': '57575',
  '+': '02720',
  '=': '07070',
  '?': '71302',
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

function glyph(ch: string): string {
  return FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT['?'];
}

/** Width in pixels of `text` at `scale` (glyphs 3 wide, 1 pixel apart). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/** Draws `text` with its top-left corner at (x, y); each font pixel is scale×scale. */
export function drawText(img: RgbImage, x: number, y: number, text: string, color: Rgb, scale = 1): void {
  checkImage(img);
  const s = Math.max(1, Math.round(scale));
  let cx = Math.round(x);
  const cy = Math.round(y);
  for (const ch of text) {
    const rows = glyph(ch);
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      const bits = rows.charCodeAt(r) - 48;
      for (let c = 0; c < GLYPH_WIDTH; c++) if (bits & (4 >> c)) fillRect(img, cx + c * s, cy + r * s, cx + (c + 1) * s, cy + (r + 1) * s, color);
    }
    cx += (GLYPH_WIDTH + 1) * s;
  }
}

/** Size of the tag drawLabel makes for `text`: 1 pixel (× scale) of padding round the text. */
export function labelSize(text: string, scale = 1): { width: number; height: number } {
  return { width: textWidth(text, scale) + 2 * scale, height: GLYPH_HEIGHT * scale + 2 * scale };
}

export type PixelRect = [x0: number, y0: number, x1: number, y1: number];

const overlaps = (a: PixelRect, b: PixelRect) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

/**
 * A filled tag with `text` for a box whose top-left pixel is (x, y): above the box when it
 * fits, else just inside its top edge; moved left if it would run off the right side, and
 * down below any tag of `placed` it would cover (as long as it stays in the image). Its
 * rectangle [x0, y0, x1, y1) is added to `placed` and returned.
 */
export function drawLabel(img: RgbImage, x: number, y: number, text: string, bg: Rgb, scale = 1, placed: PixelRect[] = []): PixelRect {
  checkImage(img);
  const { width, height } = labelSize(text, scale);
  let x0 = Math.round(x);
  let y0 = Math.round(y) - height;
  if (y0 < 0) y0 = Math.max(0, Math.round(y));
  if (x0 + width > img.width) x0 = img.width - width;
  x0 = Math.max(0, x0);
  for (let tries = 0; tries < placed.length; tries++) {
    const hit = placed.find((r) => overlaps(r, [x0, y0, x0 + width, y0 + height]));
    if (!hit || hit[3] + height > img.height) break;
    y0 = hit[3];
  }
  fillRect(img, x0, y0, x0 + width, y0 + height, bg);
  drawText(img, x0 + scale, y0 + scale, text, textColorOn(bg), scale);
  const rect: PixelRect = [x0, y0, x0 + width, y0 + height];
  placed.push(rect);
  return rect;
}

export interface DrawDetectionsOptions {
  /** only detections scoring at least this are drawn (default 0.3) */
  scoreThr?: number;
  /** class names by label; the label index is written when absent */
  classNames?: readonly string[];
  /** outline width in pixels (default 2) */
  thickness?: number;
  /** font scale (default 1: 5-pixel-high text) */
  fontScale?: number;
  /** append the score (two decimals) to the label text (default true) */
  showScore?: boolean;
}

/** The label text of one detection: the class name (or index) and the score as ".87". */
export function labelText(label: number, score: number, classNames?: readonly string[], showScore = true): string {
  const name = classNames?.[label] ?? String(label);
  if (!showScore) return name;
  const s = score >= 0.995 ? '1.00' : score.toFixed(2).replace(/^0/, '');
  return `${name} ${s}`;
}

/**
 * Draws every detection scoring ≥ scoreThr: boxes first (lowest score first, so the best
 * ends on top), then the tags, best first, each moved below the tags already placed that
 * it would cover (duplicates of one box stack their tags). Returns the indices of the
 * drawn detections, best first.
 */
export function drawDetections(img: RgbImage, dets: Detections, opts: DrawDetectionsOptions = {}): number[] {
  checkImage(img);
  const thr = opts.scoreThr ?? 0.3;
  const keep: number[] = [];
  for (let i = 0; i < dets.scores.length; i++) if (dets.scores[i] >= thr) keep.push(i);
  keep.sort((a, b) => dets.scores[b] - dets.scores[a] || a - b);
  for (let k = keep.length - 1; k >= 0; k--) {
    const i = keep[k];
    drawBox(img, dets.bboxes.subarray(4 * i, 4 * i + 4), classColor(dets.labels[i]), opts.thickness ?? 2);
  }
  const placed: PixelRect[] = [];
  for (const i of keep) {
    const text = labelText(dets.labels[i], dets.scores[i], opts.classNames, opts.showScore ?? true);
    drawLabel(img, Math.round(dets.bboxes[4 * i]), Math.round(dets.bboxes[4 * i + 1]), text, classColor(dets.labels[i]), opts.fontScale ?? 1, placed);
  }
  return keep;
}
