/**
 * Run reports: `npm run train` (a tiny run, as a subprocess) writes report.html and its
 * PNGs; the page is opened in headless Chromium, which must load every plot and image
 * from the file alone and show the figures of metrics.json.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { decode as decodePng } from 'fast-png';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../../detection/train/config.ts';
import { buildExperimentReport, buildRunReport, escapeHtml, groundTruthPanel, predictionPanel, type ReportMetrics } from '../../detection/report.ts';
import { inMemoryCocoDataset } from '../../detection/data/coco.ts';
import { classColor } from '../../detection/draw.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', ...args], { cwd: ROOT, timeout: 150_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Headless Debian Chromium; a missing browser fails the test with the fix (it never skips). */
async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the report test opens report.html in it. Install it with 'bash scripts/setup.sh' (or 'apt-get install -y chromium').`,
    );
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** How the report prints an AP (three decimals; -1, an area range without ground truth, as a dash). */
const ap = (v: number) => (v < 0 ? '–' : v.toFixed(3));

describe('report.html of a training run', () => {
  let tmp: string;
  let out: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-report-'));
    out = path.join(tmp, 'run');
    const cfg = {
      ...presetConfig('tiny'),
      data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') },
    };
    const cfgFile = path.join(tmp, 'tiny.json');
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const r = await run(['scripts/train.ts', '--config', cfgFile, '--out', out, '--no-progress']);
    if (r.code !== 0) throw new Error(`npm run train exited ${r.code}:\n${r.stderr}`);
    expect(r.stdout).toContain(`report.html in ${out}`);
  });

  afterAll(async () => {
    await browser?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('writes the plots and sample images as PNG files next to report.html', () => {
    const files = fs.readdirSync(out);
    for (const f of ['report.html', 'metrics.json', 'losses.png', 'lr.png', 'sample-0-gt.png', 'sample-0-pred.png', 'sample-3-pred.png'])
      expect(files).toContain(f);
    const losses = decodePng(fs.readFileSync(path.join(out, 'losses.png')));
    expect([losses.width, losses.height]).toEqual([640, 360]);
    // the 64×64 validation images, enlarged 4× so the labels are readable
    const sample = decodePng(fs.readFileSync(path.join(out, 'sample-0-gt.png')));
    expect([sample.width, sample.height]).toEqual([256, 256]);
  });

  it('opens in headless Chromium with every plot and image loaded from the file alone, and shows the figures of metrics.json', async () => {
    browser = await launchChromium();
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(path.join(out, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });
    // self-contained: the page itself is the only request (images are data: URIs, no CSS or script files)
    expect(requests.filter((u) => !u.startsWith('data:'))).toEqual([url]);

    const images = await page.$$eval('img', (imgs) =>
      imgs.map((i) => ({ alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, src: i.getAttribute('src')!.slice(0, 22) })),
    );
    // 2 plots (loss terms, learning rate) and ground truth + predictions for 4 validation images
    expect(images).toHaveLength(10);
    for (const img of images) {
      expect(img.complete, img.alt).toBe(true);
      expect(img.w, `${img.alt} decoded`).toBeGreaterThan(0);
      expect(img.src).toBe('data:image/png;base64,');
    }
    expect(images.find((i) => i.alt === 'loss curves')).toMatchObject({ w: 640, h: 360 });
    expect(images.filter((i) => i.alt.startsWith('ground truth of'))).toHaveLength(4);
    expect(images.filter((i) => i.alt.startsWith('predictions on'))).toHaveLength(4);
    // each embedded image is the PNG written next to the page
    const lossSrc = await page.$eval('img[alt="loss curves"]', (i) => i.getAttribute('src')!);
    expect(Buffer.from(lossSrc.split(',')[1], 'base64').equals(fs.readFileSync(path.join(out, 'losses.png')))).toBe(true);

    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const mapTable = await page.$$eval('table.map tr', (rows) => rows.map((r) => [...r.querySelectorAll('th,td')].map((c) => c.textContent)));
    expect(mapTable[0]).toEqual(['model', 'mAP', 'mAP50', 'mAP75', 'mAP_s', 'mAP_m', 'mAP_l']);
    expect(mapTable[1]).toEqual(['tiny', ...['mAP', 'mAP50', 'mAP75', 'mAP_s', 'mAP_m', 'mAP_l'].map((k) => ap(metrics.eval[k]))]);
    const perClass = await page.$$eval('table.per-class tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)));
    expect(perClass).toEqual(Object.entries(metrics.eval.per_class as Record<string, number>).map(([name, v]) => [name, ap(v)]));
    expect(perClass).toHaveLength(8);
    const text = await page.textContent('body');
    expect(text).toContain(`${metrics.steps} of ${metrics.total_steps} steps`);
    for (const term of ['qfl', 'giou', 'dfl', 'total']) expect(await page.$$eval('.legend span', (s) => s.map((x) => x.textContent))).toContain(term);
  });
});

describe('report pages', () => {
  it('escape names and say when a run was not evaluated', () => {
    const r = buildRunReport({
      name: '<script>alert(1)</script>',
      facts: ['a & b'],
      losses: [
        { step: 0, lr: 0.1, total: 2 },
        { step: 1, lr: 0.1, total: 1 },
      ],
      metrics: null,
      samples: null,
    });
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain(escapeHtml('<script>alert(1)</script>'));
    expect(r.html).toContain('a &amp; b');
    expect(r.html).toContain('Not evaluated');
    expect(r.files.map((f) => f.name)).toEqual(['losses.png', 'lr.png']);
  });

  /** Two 32×24 grey images; image 1 has a 'b' box at (4, 6)–(20, 18), image 2 none. */
  const dataset = () =>
    inMemoryCocoDataset(
      {
        images: [
          { id: 1, file_name: 'one.png', width: 32, height: 24 },
          { id: 2, file_name: 'two.png', width: 32, height: 24 },
        ],
        annotations: [{ id: 1, image_id: 1, category_id: 2, bbox: [4, 6, 16, 12], area: 192, iscrowd: 0 }],
        categories: [
          { id: 1, name: 'a' },
          { id: 2, name: 'b' },
        ],
      },
      [0, 1].map(() => ({ width: 32, height: 24, data: new Uint8Array(32 * 24 * 3).fill(128) })),
    );
  const pixel = (png: Uint8Array, x: number, y: number) => {
    const img = decodePng(png);
    const o = img.channels * (y * img.width + x);
    return [img.data[o], img.data[o + 1], img.data[o + 2]];
  };

  it('draw the ground truth and the predictions above the threshold, enlarged, in class colours', () => {
    const ds = dataset();
    // enlarged 8× (to 256 px on the longer side): the box's top-left corner is pixel (32, 48)
    const gt = groundTruthPanel(ds, 0);
    expect(decodePng(gt.png).width).toBe(256);
    expect(pixel(gt.png, 32 + 1, 48 + 30)).toEqual([...classColor(1)]);
    expect(pixel(gt.png, 100, 100)).toEqual([128, 128, 128]);
    const dets = { bboxes: Float64Array.of(8, 4, 24, 20, 0, 0, 10, 10), scores: Float64Array.of(0.9, 0.1), labels: Int32Array.of(0, 1) };
    const pred = predictionPanel(ds, 0, dets, { scoreThr: 0.3 });
    expect(pred.caption).toBe('1 prediction(s) with score ≥ 0.3 (best 0.90)');
    expect(pixel(pred.png, 64 + 1, 32 + 60)).toEqual([...classColor(0)]);
    // the 0.1 detection is not drawn: the image is untouched there
    expect(pixel(pred.png, 1, 60)).toEqual([128, 128, 128]);
  });

  it('of an experiment: one mAP table with the teacher and every run, per-class AP per run, every run on every sample image', () => {
    const metrics = (v: number): ReportMetrics => ({ mAP: v, mAP50: v + 0.1, mAP75: v / 2, mAP_s: -1, mAP_m: v, mAP_l: v, per_class: { a: v, b: -1 } });
    const none = { bboxes: new Float64Array(0), scores: new Float64Array(0), labels: new Int32Array(0) };
    const r = buildExperimentReport({
      title: 'Experiment <smoke>',
      facts: [],
      teachers: [{ name: 'teacher', metrics: metrics(0.5) }],
      runs: [
        {
          name: 'teacher-none-seed0',
          losses: [
            { step: 0, total: 3 },
            { step: 1, total: 2 },
          ],
          metrics: metrics(0.25),
          seconds: 12,
          sampleDetections: [none, none],
        },
        {
          name: 'teacher-crosskd-tap3-seed0',
          losses: [
            { step: 0, total: 3 },
            { step: 1, total: 1.5 },
          ],
          metrics: metrics(0.3),
          seconds: 14,
          sampleDetections: [none, none],
        },
      ],
      dataset: dataset(),
      sampleOptions: { count: 2 },
    });
    expect(r.html).toContain('<h1>Experiment &lt;smoke&gt;</h1>');
    expect(r.html).toContain('<tr><td>teacher teacher</td><td>0.500</td><td>0.600</td><td>0.250</td><td>–</td><td>0.500</td><td>0.500</td></tr>');
    expect(r.html).toContain('<tr><td>teacher-crosskd-tap3-seed0</td><td>0.300</td><td>0.400</td><td>0.150</td><td>–</td><td>0.300</td><td>0.300</td></tr>');
    expect(r.html).toContain('<tr><td>a</td><td>0.500</td><td>0.250</td><td>0.300</td></tr>');
    expect(r.files.map((f) => f.name)).toEqual([
      'losses.png',
      'sample-0-gt.png',
      'sample-0-run0.png',
      'sample-0-run1.png',
      'sample-1-gt.png',
      'sample-1-run0.png',
      'sample-1-run1.png',
    ]);
    expect(r.html.match(/<img /g)).toHaveLength(7);
  });
});
