// Scenes of the synthetic dataset: a complete, explicit description of one image (layers of
// shapes and clutter over a textured background), and renderScene, which turns any scene
// (sampled by synthetic.ts's sampleScene, or written by hand as the tests do) into pixels
// and annotations from the rendered masks. Deterministic as synthetic.ts says: integer
// hashes for noise and detmath.ts's functions for geometry.

import { uniformAt } from '../../engine/random.ts';
import { dsin, sincos } from './detmath.ts';
import type { RgbImage } from './coco.ts';
import type { ShapeName } from './synthetic.ts';

/** RGB in [0, 1]. */
export type Rgb = readonly [number, number, number];

export type Fill =
  | { kind: 'solid'; color: Rgb }
  /** Linear ramp from `from` to `to` along direction `angle`, over ±`half` px around (cx, cy). */
  | { kind: 'gradient'; from: Rgb; to: Rgb; cx: number; cy: number; angle: number; half: number }
  /** `color` modulated by value noise: × (1 + amount·(noise − ½)), noise cell `cell` px. */
  | { kind: 'mottled'; color: Rgb; amount: number; cell: number; seed: number };

export interface ShapeLayer {
  kind: 'object';
  shape: ShapeName;
  /** Centre and half-extents (px) of the shape's local frame [-1, 1]², before rotation. */
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  /** Rotation in radians (clockwise on screen, y pointing down). */
  angle: number;
  /** Ring: inner radius / outer; star: inner vertex radius / outer. */
  inner: number;
  /** Cross: half-width of the arms; L: bar thickness (both in local units, frame half-size 1). */
  arm: number;
  /** Mirror the local frame (for the L). */
  mirror: boolean;
  fill: Fill;
}

export type ClutterLayer =
  /** A polyline of flat (x, y) points, `width` px thick. */
  | { kind: 'stroke'; points: readonly number[]; width: number; fill: Fill }
  /** Part of a ring: radius r, `width` thick, from angle `start` over `span` radians. */
  | { kind: 'arc'; cx: number; cy: number; r: number; width: number; start: number; span: number; fill: Fill }
  /** A lumpy disc: radius r·(1 + Σ amp·cos(k·θ + phase)). */
  | { kind: 'blob'; cx: number; cy: number; r: number; harmonics: readonly { k: number; amp: number; phase: number }[]; fill: Fill };

export type Layer = ShapeLayer | ClutterLayer;

export type Texture =
  | { kind: 'flat'; color: Rgb }
  | { kind: 'gradient'; from: Rgb; to: Rgb; angle: number }
  /** Two octaves of value noise (cells `cell` and cell/2.3 px) mapping 0..1 to from..to. */
  | { kind: 'noise'; from: Rgb; to: Rgb; cell: number; seed: number }
  /** Sinusoidal stripes of `period` px along `angle`; sharpness > 1 pushes them towards hard bands. */
  | { kind: 'stripes'; from: Rgb; to: Rgb; period: number; angle: number; phase: number; sharpness: number };

export interface Scene {
  width: number;
  height: number;
  /** Textures blended in order, each over the previous with its alpha (the first is opaque). */
  background: readonly { texture: Texture; alpha: number }[];
  /** Drawn in order; later layers occlude earlier ones. */
  layers: readonly Layer[];
  /** Std of the additive per-pixel noise (intensities 0..1); 0 for none. */
  noiseStd: number;
  noiseSeed: number;
  supersample: number;
  minVisibleFraction: number;
}

/** A stream of uniforms: the i-th draw is uniformAt(seed, i). */

export const TWO_PI = 6.283185307179586;

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** x² by multiplication: `**` is only "implementation-approximated" in ECMAScript (see detmath.ts). */
function sq(x: number): number {
  return x * x;
}

export function colorDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.sqrt(sq(a[0] - b[0]) + sq(a[1] - b[1]) + sq(a[2] - b[2]));
}

/** Smooth value noise in [0, 1): bilinear (smoothstep-weighted) between hashed lattice values. */
function valueNoise(seed: number, x: number, y: number, cell: number): number {
  const gx = x / cell;
  const gy = y / cell;
  const ix = Math.floor(gx);
  const iy = Math.floor(gy);
  let fx = gx - ix;
  let fy = gy - iy;
  fx = fx * fx * (3 - 2 * fx);
  fy = fy * fy * (3 - 2 * fy);
  // Lattice point (i, j) has value uniformAt(seed, (j + 4096)·8209 + i + 4096): coordinates
  // stay within ±4096 cells for any image this generator makes. (Inlined: this is the
  // generator's innermost loop.)
  const k = (iy + 4096) * 8209 + ix + 4096;
  const a = uniformAt(seed, k >>> 0);
  const b = uniformAt(seed, (k + 1) >>> 0);
  const c = uniformAt(seed, (k + 8209) >>> 0);
  const d = uniformAt(seed, (k + 8210) >>> 0);
  return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

function lerpInto(out: number[], a: Rgb, b: Rgb, t: number): void {
  out[0] = a[0] + (b[0] - a[0]) * t;
  out[1] = a[1] + (b[1] - a[1]) * t;
  out[2] = a[2] + (b[2] - a[2]) * t;
}

/** A texture as a function of the pixel centre (x, y), writing RGB into `out`. */
export function compileTexture(tex: Texture, width: number, height: number): (x: number, y: number, out: number[]) => void {
  switch (tex.kind) {
    case 'flat':
      return (_x, _y, out) => lerpInto(out, tex.color, tex.color, 0);
    case 'gradient': {
      const [s, c] = sincos(tex.angle);
      const extent = Math.abs(c) * width + Math.abs(s) * height;
      return (x, y, out) => lerpInto(out, tex.from, tex.to, clamp01(0.5 + ((x - width / 2) * c + (y - height / 2) * s) / extent));
    }
    case 'noise':
      return (x, y, out) => {
        const t = 0.65 * valueNoise(tex.seed, x, y, tex.cell) + 0.35 * valueNoise(tex.seed + 1, x, y, tex.cell / 2.3);
        // Averaged noise clusters around ½; stretch it so both colours show.
        lerpInto(out, tex.from, tex.to, clamp01((t - 0.5) * 2 + 0.5));
      };
    case 'stripes': {
      const [s, c] = sincos(tex.angle);
      const k = TWO_PI / tex.period;
      return (x, y, out) => {
        const t = 0.5 * dsin(k * (x * c + y * s) + tex.phase);
        lerpInto(out, tex.from, tex.to, clamp01(t * tex.sharpness + 0.5));
      };
    }
  }
}

function compileFill(fill: Fill): (x: number, y: number, out: number[]) => void {
  switch (fill.kind) {
    case 'solid':
      return (_x, _y, out) => lerpInto(out, fill.color, fill.color, 0);
    case 'gradient': {
      const [s, c] = sincos(fill.angle);
      return (x, y, out) => lerpInto(out, fill.from, fill.to, clamp01(0.5 + (0.5 * ((x - fill.cx) * c + (y - fill.cy) * s)) / fill.half));
    }
    case 'mottled':
      return (x, y, out) => {
        const m = 1 + fill.amount * (valueNoise(fill.seed, x, y, fill.cell) - 0.5);
        out[0] = clamp01(fill.color[0] * m);
        out[1] = clamp01(fill.color[1] * m);
        out[2] = clamp01(fill.color[2] * m);
      };
  }
}

/** Even-odd point-in-polygon test on flat (x, y) vertices. */
function insidePolygon(poly: readonly number[], u: number, v: number): boolean {
  let inside = false;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly[2 * i],
      yi = poly[2 * i + 1];
    const xj = poly[2 * j],
      yj = poly[2 * j + 1];
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Vertices of a 5-pointed star, outer radius 1, the first point straight up (−v). */
function starPolygon(inner: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < 10; k++) {
    const [s, c] = sincos(-Math.PI / 2 + (k * Math.PI) / 5);
    const r = k % 2 === 0 ? 1 : inner;
    out.push(r * c, r * s);
  }
  return out;
}

/** The class's shape in its local frame [-1, 1]² (u right, v down). */
function unitShape(layer: ShapeLayer): (u: number, v: number) => boolean {
  switch (layer.shape) {
    case 'circle':
    case 'ellipse':
      return (u, v) => u * u + v * v <= 1;
    case 'square':
      return (u, v) => Math.abs(u) <= 1 && Math.abs(v) <= 1;
    case 'triangle':
      // Apex (0, -1), base from (-1, 1) to (1, 1).
      return (u, v) => v <= 1 && Math.abs(u) <= (v + 1) / 2;
    case 'ring': {
      const q2 = layer.inner * layer.inner;
      return (u, v) => {
        const r2 = u * u + v * v;
        return r2 <= 1 && r2 >= q2;
      };
    }
    case 'cross': {
      const a = layer.arm;
      return (u, v) => (Math.abs(u) <= a && Math.abs(v) <= 1) || (Math.abs(v) <= a && Math.abs(u) <= 1);
    }
    case 'star': {
      const poly = starPolygon(layer.inner);
      return (u, v) => u * u + v * v <= 1 && insidePolygon(poly, u, v);
    }
    case 'lshape': {
      const t = -1 + 2 * layer.arm;
      // A vertical bar on the left and a horizontal bar at the bottom.
      return (u, v) => Math.abs(u) <= 1 && Math.abs(v) <= 1 && (u <= t || v >= -t);
    }
  }
}

/** Integer pixel rectangle [x0, x1) × [y0, y1) (may extend past the image). */
export type Rect = readonly [x0: number, y0: number, x1: number, y1: number];

interface Compiled {
  inside: (x: number, y: number) => boolean;
  /**
   * False only if no sample of the pixel centred at (x, y) can be inside: a cheap test
   * that skips the supersampling of most pixels of the bounding rectangle without
   * changing any result.
   */
  near: (x: number, y: number) => boolean;
  bounds: Rect;
}

/** Every supersample lies within √½ px of its pixel's centre (a little more, for rounding). */
const SAMPLE_REACH = 0.7072;

function rectAround(x0: number, y0: number, x1: number, y1: number): Rect {
  return [Math.floor(x0) - 1, Math.floor(y0) - 1, Math.ceil(x1) + 1, Math.ceil(y1) + 1];
}

/** Half-extents of the rotated local frame: the box that holds the shape at any rotation. */
export function rotatedHalfExtents(rx: number, ry: number, angle: number): [number, number] {
  const [s, c] = sincos(angle);
  return [Math.abs(c) * rx + Math.abs(s) * ry, Math.abs(s) * rx + Math.abs(c) * ry];
}

function compileLayer(layer: Layer): Compiled {
  switch (layer.kind) {
    case 'object': {
      const [s, c] = sincos(layer.angle);
      const unit = unitShape(layer);
      const mirror = layer.mirror ? -1 : 1;
      const { cx, cy, rx, ry } = layer;
      const [hx, hy] = rotatedHalfExtents(rx, ry, layer.angle);
      return {
        // Screen point → local frame: rotate by −angle, then scale by the half-extents.
        inside: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          return unit((mirror * (dx * c + dy * s)) / rx, (-dx * s + dy * c) / ry);
        },
        // A displacement of length d moves the local point by at most d/rx in u, d/ry in v.
        near: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          return Math.abs(dx * c + dy * s) <= rx + SAMPLE_REACH && Math.abs(-dx * s + dy * c) <= ry + SAMPLE_REACH;
        },
        bounds: rectAround(cx - hx, cy - hy, cx + hx, cy + hy),
      };
    }
    case 'stroke': {
      const p = layer.points;
      const r2 = sq(layer.width / 2);
      let x0 = Infinity,
        y0 = Infinity,
        x1 = -Infinity,
        y1 = -Infinity;
      for (let i = 0; i < p.length; i += 2) {
        x0 = Math.min(x0, p[i]);
        x1 = Math.max(x1, p[i]);
        y0 = Math.min(y0, p[i + 1]);
        y1 = Math.max(y1, p[i + 1]);
      }
      const pad = layer.width / 2;
      const near2 = sq(pad + SAMPLE_REACH);
      /** Whether (x, y) lies within √limit2 of the polyline. */
      const within = (x: number, y: number, limit2: number) => {
        for (let i = 0; i + 3 < p.length; i += 2) {
          // Squared distance from (x, y) to the segment.
          const ax = p[i],
            ay = p[i + 1];
          const ex = p[i + 2] - ax,
            ey = p[i + 3] - ay;
          const len2 = ex * ex + ey * ey;
          const t = len2 > 0 ? clamp01(((x - ax) * ex + (y - ay) * ey) / len2) : 0;
          const qx = ax + t * ex - x,
            qy = ay + t * ey - y;
          if (qx * qx + qy * qy <= limit2) return true;
        }
        return false;
      };
      return {
        inside: (x, y) => within(x, y, r2),
        near: (x, y) => within(x, y, near2),
        bounds: rectAround(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
      };
    }
    case 'arc': {
      const { cx, cy, r } = layer;
      const half = layer.width / 2;
      const [sa, ca] = sincos(layer.start);
      const [sb, cb] = sincos(layer.start + layer.span);
      // Angular test without atan2: for a span ≤ π the point lies counter-clockwise of the
      // start ray and clockwise of the end ray; a longer span is the complement of the
      // (shorter) missing part.
      const within =
        layer.span <= Math.PI
          ? (dx: number, dy: number) => ca * dy - sa * dx >= 0 && dx * sb - dy * cb >= 0
          : (dx: number, dy: number) => !(cb * dy - sb * dx > 0 && dx * sa - dy * ca > 0);
      return {
        inside: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          const rho = Math.sqrt(dx * dx + dy * dy);
          return Math.abs(rho - r) <= half && within(dx, dy);
        },
        near: (x, y) => Math.abs(Math.sqrt(sq(x - cx) + sq(y - cy)) - r) <= half + SAMPLE_REACH,
        bounds: rectAround(cx - r - half, cy - r - half, cx + r + half, cy + r + half),
      };
    }
    case 'blob': {
      const { cx, cy, r, harmonics } = layer;
      const trig = harmonics.map((h) => ({ k: h.k, amp: h.amp, s: sincos(h.phase) }));
      const reach = r * (1 + harmonics.reduce((a, h) => a + Math.abs(h.amp), 0));
      return {
        inside: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          const rho2 = dx * dx + dy * dy;
          if (rho2 === 0) return true;
          const rho = Math.sqrt(rho2);
          // cos(kθ + φ) = Re(z^k)·cos φ − Im(z^k)·sin φ with z = (dx + i·dy)/ρ.
          const zr = dx / rho,
            zi = dy / rho;
          let boundary = 1;
          for (const h of trig) {
            let pr = 1,
              pi = 0;
            for (let j = 0; j < h.k; j++) {
              const t = pr * zr - pi * zi;
              pi = pr * zi + pi * zr;
              pr = t;
            }
            boundary += h.amp * (pr * h.s[1] - pi * h.s[0]);
          }
          return rho <= r * boundary;
        },
        near: (x, y) => sq(x - cx) + sq(y - cy) <= sq(reach + SAMPLE_REACH),
        bounds: rectAround(cx - reach, cy - reach, cx + reach, cy + reach),
      };
    }
  }
}

/** Coverage of one layer on the image, and its coverage summed over the unclipped shape. */
interface Raster {
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** Coverage in [0, 1] of pixels inside both the bounds and the image. */
  cov: Float64Array;
  /** Σ coverage over the whole shape, in or out of the image (its area in pixels). */
  total: number;
}

function rasterize(c: Compiled, width: number, height: number, ss: number): Raster {
  const [bx0, by0, bx1, by1] = c.bounds;
  const x0 = Math.max(bx0, 0),
    y0 = Math.max(by0, 0);
  const w = Math.max(Math.min(bx1, width) - x0, 0);
  const h = Math.max(Math.min(by1, height) - y0, 0);
  const cov = new Float64Array(w * h);
  const inv = 1 / (ss * ss);
  let total = 0;
  for (let py = by0; py < by1; py++) {
    for (let px = bx0; px < bx1; px++) {
      if (!c.near(px + 0.5, py + 0.5)) continue;
      let hits = 0;
      for (let j = 0; j < ss; j++) {
        const y = py + (j + 0.5) / ss;
        for (let i = 0; i < ss; i++) if (c.inside(px + (i + 0.5) / ss, y)) hits++;
      }
      if (hits === 0) continue;
      const v = hits * inv;
      total += v;
      if (px >= x0 && px < x0 + w && py >= y0 && py < y0 + h) cov[(py - y0) * w + (px - x0)] = v;
    }
  }
  return { x0, y0, w, h, cov, total };
}

export interface RenderedObject {
  /** Index of the object's layer in scene.layers. */
  layer: number;
  shape: ShapeName;
  /** Tight box of the visible mask, [x, y, w, h]. */
  bbox: [number, number, number, number];
  /** Mask pixel count. */
  area: number;
  /** Visible coverage / full coverage (occlusion and truncation both reduce it). */
  visibleFraction: number;
}

export interface RenderedScene {
  image: RgbImage;
  /** The drawn objects, bottom layer first. */
  objects: RenderedObject[];
  /** Layers of objects too hidden to draw (see Scene.minVisibleFraction). */
  dropped: number[];
}

/**
 * Renders a scene: coverage of every layer by supersampling, then, from the top layer
 * down, each object's visible coverage (its coverage × the transparency of everything
 * drawn over it) — too-hidden objects are dropped here, before they can occlude anything
 * — then compositing bottom-up and adding the sensor noise.
 */
export function renderScene(scene: Scene): RenderedScene {
  const { width: W, height: H } = scene;
  const rasters = scene.layers.map((l) => rasterize(compileLayer(l), W, H, scene.supersample));

  const transparency = new Float64Array(W * H).fill(1);
  const keep = new Array<boolean>(scene.layers.length).fill(true);
  const found = new Map<number, RenderedObject>();
  for (let li = scene.layers.length - 1; li >= 0; li--) {
    const layer = scene.layers[li];
    const r = rasters[li];
    if (layer.kind === 'object') {
      let visible = 0;
      let count = 0;
      let mx0 = Infinity,
        my0 = Infinity,
        mx1 = -Infinity,
        my1 = -Infinity;
      for (let y = 0; y < r.h; y++) {
        for (let x = 0; x < r.w; x++) {
          const v = r.cov[y * r.w + x] * transparency[(y + r.y0) * W + x + r.x0];
          visible += v;
          if (v >= 0.5) {
            count++;
            mx0 = Math.min(mx0, x + r.x0);
            mx1 = Math.max(mx1, x + r.x0);
            my0 = Math.min(my0, y + r.y0);
            my1 = Math.max(my1, y + r.y0);
          }
        }
      }
      const fraction = r.total > 0 ? visible / r.total : 0;
      if (count === 0 || fraction < scene.minVisibleFraction) {
        keep[li] = false;
        continue;
      }
      found.set(li, { layer: li, shape: layer.shape, bbox: [mx0, my0, mx1 - mx0 + 1, my1 - my0 + 1], area: count, visibleFraction: fraction });
    }
    for (let y = 0; y < r.h; y++) {
      for (let x = 0; x < r.w; x++) transparency[(y + r.y0) * W + x + r.x0] *= 1 - r.cov[y * r.w + x];
    }
  }

  // Background, then the kept layers over it.
  const img = new Float64Array(3 * W * H);
  const col = [0, 0, 0];
  scene.background.forEach(({ texture, alpha }, k) => {
    const tex = compileTexture(texture, W, H);
    const a = k === 0 ? 1 : alpha;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        tex(x + 0.5, y + 0.5, col);
        const p = 3 * (y * W + x);
        for (let ch = 0; ch < 3; ch++) img[p + ch] = img[p + ch] * (1 - a) + col[ch] * a;
      }
    }
  });
  scene.layers.forEach((layer, li) => {
    if (!keep[li]) return;
    const r = rasters[li];
    const fill = compileFill(layer.fill);
    for (let y = 0; y < r.h; y++) {
      for (let x = 0; x < r.w; x++) {
        const a = r.cov[y * r.w + x];
        if (a === 0) continue;
        fill(x + r.x0 + 0.5, y + r.y0 + 0.5, col);
        const p = 3 * ((y + r.y0) * W + x + r.x0);
        for (let ch = 0; ch < 3; ch++) img[p + ch] = img[p + ch] * (1 - a) + col[ch] * a;
      }
    }
  });

  const data = new Uint8Array(3 * W * H);
  for (let i = 0; i < data.length; i++) {
    let v = img[i];
    if (scene.noiseStd > 0) {
      // Sum of three uniforms, centred and scaled to unit variance: close enough to a
      // Gaussian for sensor noise, and free of log/cos.
      const u = uniformAt(scene.noiseSeed, 3 * i) + uniformAt(scene.noiseSeed, 3 * i + 1) + uniformAt(scene.noiseSeed, 3 * i + 2);
      v += scene.noiseStd * 2 * (u - 1.5);
    }
    data[i] = Math.round(clamp01(v) * 255);
  }

  const objects = [...found.values()].sort((a, b) => a.layer - b.layer);
  const dropped = scene.layers.flatMap((l, li) => (l.kind === 'object' && !keep[li] ? [li] : []));
  return { image: { width: W, height: H, data }, objects, dropped };
}
