/**
 * The web page (index.html): checks WebGPU, generates data, trains a teacher, a student and
 * a CrossKD student one after another with a live loss curve and live detections, then
 * compares them side by side and shows the target-conflict map of a chosen image.
 *
 * `window.crosskdDemo` mirrors the page's state (phase, steps, losses, error) for the
 * end-to-end test (test/web/web.test.ts); everything it holds is also on the page.
 */
import * as E from '../engine/browser.ts';
import { fpnStrides, type Detector } from '../detection/detector.ts';
import { PALETTE } from '../detection/plot.ts';
import { CONFLICT_THRESHOLD } from '../crosskd/conflict.ts';
import { DEFAULT_SETTINGS, parseSettings, SETTING_NAMES, webConfig, type WebSettings } from './settings.ts';
import { conflictMap, evaluate, generateData, predictImages, trainLive, type PageData } from './session.ts';
import { conflictPicture, detectionsPicture, DRAW_MAX, DRAW_SCORE_THR, drawLossChart, groundTruthPicture, heatColor, paint } from './render.ts';

type ModelKey = 'teacher' | 'student' | 'crosskd';
const MODELS: { key: ModelKey; title: string }[] = [
  { key: 'teacher', title: 'teacher' },
  { key: 'student', title: 'student' },
  { key: 'crosskd', title: 'student + CrossKD' },
];

/** The page's state, readable by tests (window.crosskdDemo). */
const state = {
  phase: 'loading' as 'loading' | 'no-webgpu' | 'ready' | 'generating' | ModelKey | 'evaluating' | 'done' | 'error',
  /** steps done over all three models, and their total */
  step: 0,
  totalSteps: 0,
  /** total loss per step, per model */
  losses: { teacher: [] as number[], student: [] as number[], crosskd: [] as number[] },
  /** names of the loss terms of each model's last step (CrossKD adds its KD terms) */
  terms: {} as Partial<Record<ModelKey, string[]>>,
  mAP: {} as Partial<Record<ModelKey, number>>,
  conflictShare: null as number | null,
  error: null as string | null,
  adapter: '',
};
(window as unknown as { crosskdDemo: typeof state }).crosskdDemo = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
};
const text = (id: string, value: string) => ($(id).textContent = value);
const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

function setPhase(phase: typeof state.phase, status: string): void {
  state.phase = phase;
  document.body.dataset.state = phase;
  text('status', status);
}

// ------------------------------------------------------------------ WebGPU check

/** Null when WebGPU works, else why not (shown on the page). */
async function webgpuProblem(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return 'navigator.gpu is missing: this browser does not expose WebGPU (or it is switched off).';
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return `navigator.gpu.requestAdapter() failed: ${(e as Error).message}`;
  }
  if (!adapter) return 'navigator.gpu.requestAdapter() returned null: WebGPU is exposed, but no GPU adapter is usable (blocklisted driver, or no GPU).';
  return null;
}

// ------------------------------------------------------------------ settings form

const form = $<HTMLFormElement>('settings');
function fillForm(s: WebSettings): void {
  for (const name of SETTING_NAMES) {
    const input = form.elements.namedItem(name) as HTMLInputElement | null;
    if (input) input.value = String(s[name]);
  }
}
/** The form's settings; those it does not show (previewEvery) stay as the URL set them. */
function formSettings(): WebSettings {
  const fromForm = [...new FormData(form)].map(([k, v]) => [k, String(v)] as [string, string]);
  return parseSettings([['previewEvery', String(settings.previewEvery)], ...fromForm]);
}

// ------------------------------------------------------------------ the run

interface Trained {
  detector: Detector;
  finalLoss: number;
  seconds: number;
  params: number;
}

let data: PageData | null = null;
let settings: WebSettings = { ...DEFAULT_SETTINGS };
const trained: Partial<Record<ModelKey, Trained>> = {};
let chosen = 0;
let classNames: string[] = [];

const PREVIEW_COUNT = 4;
const pictureScale = () => Math.max(1, Math.round(192 / settings.size));

function drawLossCurve(): void {
  const series = MODELS.map((m, k) => ({ name: m.title, color: PALETTE[k], y: state.losses[m.key] }));
  drawLossChart($<HTMLCanvasElement>('loss-curve'), series, Math.max(1, Math.round(settings.steps / 30)));
}

function drawLegend(): void {
  $('legend').innerHTML = '';
  MODELS.forEach((m, k) => {
    const [r, g, b] = PALETTE[k];
    const item = document.createElement('span');
    item.innerHTML = `<i style="background: rgb(${r},${g},${b})"></i>${m.title}`;
    $('legend').append(item);
  });
  $('legend').append(' total loss per step of each model (faint: as measured; solid: moving average on longer runs)');
}

async function drawPreviews(detector: Detector): Promise<void> {
  if (!data) return;
  const count = Math.min(PREVIEW_COUNT, data.val.records.length);
  const indices = Array.from({ length: count }, (_, i) => i);
  const dets = await predictImages(detector, data, indices);
  const holder = $('previews');
  indices.forEach((index, i) => {
    let canvas = holder.children[i] as HTMLCanvasElement | undefined;
    if (!canvas) {
      canvas = document.createElement('canvas');
      holder.append(canvas);
    }
    paint(canvas, detectionsPicture(data!.val.image(index), dets[i], classNames, Math.max(1, Math.round(128 / settings.size))).img);
  });
}

function drawCaptions(): void {
  text(
    'previews-caption',
    `Detections of the model in training on validation images (the best ${DRAW_MAX} scoring ≥ ${DRAW_SCORE_THR}), redrawn as it learns:`,
  );
}

function buildThumbs(): void {
  const holder = $('thumbs');
  holder.innerHTML = '';
  data!.val.records.forEach((r, index) => {
    const canvas = document.createElement('canvas');
    canvas.title = `${r.fileName}: ${r.labels.length} object(s)`;
    canvas.dataset.index = String(index);
    paint(canvas, data!.val.image(index));
    canvas.addEventListener('click', () => void choose(index));
    holder.append(canvas);
  });
}

function buildColumns(): void {
  const holder = $('columns');
  holder.innerHTML = '';
  for (const key of ['truth', ...MODELS.map((m) => m.key)]) {
    const fig = document.createElement('figure');
    fig.innerHTML = `<canvas id="col-${key}"></canvas><figcaption id="cap-${key}"></figcaption>`;
    holder.append(fig);
  }
  text('cap-truth', 'ground truth');
  for (const m of MODELS) text(`cap-${m.key}`, `${m.title}: not trained yet`);
}

/** Redraws the side-by-side columns and the conflict map for the chosen image. */
async function drawChosen(): Promise<void> {
  if (!data) return;
  const record = data.val.records[chosen];
  const src = data.val.image(chosen);
  const scale = pictureScale();
  paint($<HTMLCanvasElement>('col-truth'), groundTruthPicture(src, record.boxes, record.labels, classNames, scale));
  text('cap-truth', `ground truth: ${record.fileName}, ${record.labels.length} object(s)`);
  for (const m of MODELS) {
    const t = trained[m.key];
    if (!t) continue;
    const [dets] = await predictImages(t.detector, data, [chosen]);
    const pic = detectionsPicture(src, dets, classNames, scale);
    paint($<HTMLCanvasElement>(`col-${m.key}`), pic.img);
    text(`cap-${m.key}`, `${m.title}: ${pic.drawn} detection(s) drawn`);
  }
  document.querySelectorAll('#thumbs canvas').forEach((c) => c.classList.toggle('chosen', (c as HTMLElement).dataset.index === String(chosen)));
  await drawConflict();
}

async function drawConflict(): Promise<void> {
  const teacher = trained.teacher?.detector;
  const student = trained.student?.detector;
  const holder = $('conflict-maps');
  if (!data || !teacher || !student) {
    text('conflict-stats', 'The map appears once the teacher and the student are trained.');
    return;
  }
  const map = await conflictMap(teacher, student, data, chosen);
  holder.innerHTML = '';
  const src = data.val.image(chosen);
  for (const level of map.levels) {
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    paint(canvas, conflictPicture(src, level, pictureScale()));
    const used = Array.from(level.values).filter((v) => !Number.isNaN(v));
    const over = used.filter((v) => v > CONFLICT_THRESHOLD).length;
    const cap = document.createElement('figcaption');
    cap.textContent = `stride ${level.stride} (${level.width}×${level.height}): ${over} of ${used.length} locations over ${CONFLICT_THRESHOLD}`;
    fig.append(canvas, cap);
    holder.append(fig);
  }
  const s = map.stats;
  state.conflictShare = s.all.share;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  text(
    'conflict-stats',
    `Conflicting locations (difference > ${s.threshold}): ${pct(s.all.share)} of ${s.all.locations}; ` +
      `positives ${pct(s.positives.share)} of ${s.positives.locations}, negatives ${pct(s.negatives.share)} of ${s.negatives.locations}.`,
  );
}

async function choose(index: number): Promise<void> {
  chosen = index;
  try {
    await drawChosen();
  } catch (e) {
    fail(e);
  }
}

function addMetricsRow(key: ModelKey, mAP: { mAP: number; mAP50: number; mAP75: number }): void {
  const t = trained[key]!;
  const title = MODELS.find((m) => m.key === key)!.title;
  const pct = (v: number) => (v < 0 ? '–' : (100 * v).toFixed(1));
  const row = document.createElement('tr');
  row.id = `metrics-${key}`;
  row.innerHTML = `<td>${title}</td><td>${(t.params / 1e6).toFixed(2)} M</td><td>${t.finalLoss.toFixed(3)}</td><td>${pct(mAP.mAP)}</td><td>${pct(mAP.mAP50)}</td><td>${pct(mAP.mAP75)}</td><td>${t.seconds.toFixed(0)}</td>`;
  $('metrics').querySelector('tbody')!.append(row);
}

async function run(s: WebSettings): Promise<void> {
  settings = s;
  for (const m of MODELS) {
    trained[m.key]?.detector.dispose();
    delete trained[m.key];
    state.losses[m.key] = [];
  }
  state.mAP = {};
  state.terms = {};
  state.conflictShare = null;
  $('metrics').querySelector('tbody')!.innerHTML = '';
  $('previews').innerHTML = '';
  $('conflict-maps').innerHTML = '';
  state.step = 0;
  state.totalSteps = 3 * s.steps;
  text('step', '0');
  text('steps-total', String(state.totalSteps));
  text('model-steps', String(s.steps));
  drawLegend();
  drawCaptions();

  setPhase('generating', `generating ${s.images} training and ${s.valImages} validation images of ${s.size}×${s.size} px…`);
  await nextFrame();
  const strides = fpnStrides(webConfig('teacher', 'teacher', s).model.neck.numOuts);
  data = generateData(s, strides[strides.length - 1]);
  classNames = data.val.categories.map((c) => c.name);
  // the first of the validation images with the most objects, so the maps have positives
  const counts = data.val.records.map((r) => r.labels.length);
  chosen = counts.indexOf(Math.max(...counts));
  buildThumbs();
  buildColumns();
  await drawChosen();

  for (const m of MODELS) {
    const cfg = webConfig(m.key, m.key === 'teacher' ? 'teacher' : 'student', s);
    setPhase(m.key, `training the ${m.title}…`);
    text('phase', m.title);
    const started = performance.now();
    const detector = await trainLive({
      cfg,
      data,
      steps: s.steps,
      crosskdTeacher: m.key === 'crosskd' ? trained.teacher!.detector : undefined,
      onStep: async (r, det) => {
        state.losses[m.key].push(r.terms.total);
        state.terms[m.key] = Object.keys(r.terms);
        state.step += 1;
        text('model-step', String(r.step));
        text('step', String(state.step));
        const kd = Object.keys(r.terms).filter((k) => !['qfl', 'giou', 'dfl', 'total'].includes(k));
        text(
          'loss',
          `${r.terms.total.toFixed(3)} (qfl ${r.terms.qfl.toFixed(3)}, giou ${r.terms.giou.toFixed(3)}, dfl ${r.terms.dfl.toFixed(3)}${kd.map((k) => `, ${k} ${r.terms[k].toFixed(3)}`).join('')})`,
        );
        const secs = (performance.now() - started) / 1000;
        text('speed', `${(r.step / secs).toFixed(2)} steps/s, ${((r.step * s.batch) / secs).toFixed(1)} images/s`);
        drawLossCurve();
        if (r.step % s.previewEvery === 0 || r.step === r.total) await drawPreviews(det);
        else await nextFrame();
      },
    });
    const seconds = (performance.now() - started) / 1000;
    if (m.key === 'teacher') detector.freeze();
    trained[m.key] = {
      detector,
      finalLoss: state.losses[m.key].at(-1)!,
      seconds,
      params: detector.parameters().reduce((a, p) => a + p.size, 0),
    };
    setPhase('evaluating', `evaluating the ${m.title} on ${data.val.records.length} validation images…`);
    const result = await evaluate(detector, data);
    state.mAP[m.key] = result.mAP;
    addMetricsRow(m.key, result);
    await drawChosen();
  }
  setPhase('done', `done: ${state.totalSteps} steps in all. Click a validation image above to compare the models on it.`);
}

function fail(e: unknown): void {
  const err = e as Error;
  state.error = err.message ?? String(e);
  $('error-box').hidden = false;
  text('error', state.error);
  setPhase('error', 'stopped by an error (see above)');
  ($('start') as HTMLButtonElement).disabled = false;
}

async function main(): Promise<void> {
  try {
    settings = parseSettings(new URLSearchParams(location.search));
  } catch (e) {
    fillForm(DEFAULT_SETTINGS);
    fail(e);
    return;
  }
  fillForm(settings);
  const problem = await webgpuProblem();
  if (problem) {
    $('no-webgpu').hidden = false;
    text('no-webgpu-reason', problem);
    setPhase('no-webgpu', 'no WebGPU: nothing can run here');
    return;
  }
  await E.init();
  const info = await E.describeAdapter();
  state.adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ');
  text('adapter', `· adapter: ${state.adapter}${info.isSoftware ? ' (a CPU implementation: slow, but it works)' : ''}`);
  const start = $<HTMLButtonElement>('start');
  start.disabled = false;
  setPhase('ready', 'ready: press the button to train');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    let s: WebSettings;
    try {
      s = formSettings();
    } catch (e) {
      fail(e);
      return;
    }
    $('error-box').hidden = true;
    start.disabled = true;
    run(s).then(
      () => (start.disabled = false),
      (e) => fail(e),
    );
  });
  if (new URLSearchParams(location.search).get('autostart') === '1') form.requestSubmit();
}

// colour scale of the conflict maps
const scaleCanvas = $<HTMLCanvasElement>('conflict-scale');
const scaleData = new Uint8Array(200 * 12 * 3);
for (let x = 0; x < 200; x++) {
  const c = heatColor(x / 199);
  for (let y = 0; y < 12; y++) scaleData.set(c, 3 * (y * 200 + x));
}
paint(scaleCanvas, { width: 200, height: 12, data: scaleData });

main().catch(fail);
