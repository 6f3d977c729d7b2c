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
import { buildRunReport, escapeHtml } from '../../detection/report.ts';

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
    throw new Error(`Chromium not found at ${CHROMIUM}: the report test opens report.html in it. Install it with 'bash scripts/setup.sh' (or 'apt-get install -y chromium').`);
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
    const cfg = { ...presetConfig('tiny'), data: { synthetic: { seed: 7, numTrain: 16, numVal: 8, imageSize: 64 }, cacheDir: path.join(os.tmpdir(), 'crosskd-data') } };
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
    for (const f of ['report.html', 'metrics.json', 'losses.png', 'lr.png', 'sample-0-gt.png', 'sample-0-pred.png', 'sample-3-pred.png']) expect(files).toContain(f);
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
    const r = buildRunReport({ name: '<script>alert(1)</script>', facts: ['a & b'], losses: [{ step: 0, lr: 0.1, total: 2 }, { step: 1, lr: 0.1, total: 1 }], metrics: null, samples: null });
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain(escapeHtml('<script>alert(1)</script>'));
    expect(r.html).toContain('a &amp; b');
    expect(r.html).toContain('Not evaluated');
    expect(r.files.map((f) => f.name)).toEqual(['losses.png', 'lr.png']);
  });
});
