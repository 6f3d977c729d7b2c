/**
 * The web page end to end, as a person uses it: `npm run web` serves it, Debian's Chromium
 * (headless, driven by playwright-core) opens it, and the engine trains the teacher, the
 * student and the CrossKD student on WebGPU in the page. Checked: training steps run and
 * the loss falls, the detections, the side-by-side comparison and the conflict map appear,
 * a screenshot taken mid-training shows it, and a browser without WebGPU gets the message.
 *
 * Headless Chromium has no GPU here: with --enable-unsafe-webgpu it offers its own CPU
 * Vulkan (SwiftShader) as a WebGPU adapter. Without that flag requestAdapter() returns null.
 * Screenshots go to out/web/ (git-ignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PALETTE } from '../../detection/plot.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'out/web');
/** Flags under which headless Chromium exposes a WebGPU adapter without a GPU. */
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'];

/** A small run: one fixed batch of four 64-px images (no flips), quarter-width models. */
const STEPS = 5;
const QUERY = `steps=${STEPS}&images=4&valImages=2&batch=4&flip=0&narrow=4&previewEvery=2&autostart=1`;

interface DemoState {
  phase: string;
  step: number;
  totalSteps: number;
  losses: Record<'teacher' | 'student' | 'crosskd', number[]>;
  terms: Record<string, string[]>;
  mAP: Record<string, number>;
  conflictShare: number | null;
  error: string | null;
  adapter: string;
}

function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} not found: the web page test drives Debian's Chromium. Install it with \`bash scripts/setup.sh\` as root ` +
        '(it runs apt-get install -y chromium), then rerun.',
    );
}

/** Starts `npm run web -- --port 0` (tsx scripts/web.ts) and resolves with its URL. */
function startServer(): Promise<{ url: string; proc: ChildProcess }> {
  // node with tsx's loader, one process: through npx the SIGTERM of afterAll reached only
  // npx, and the server (a grandchild) outlived the test
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/web.ts', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm run web printed no URL within 60 s:\n${output}`)), 60_000);
    const onData = (d: Buffer) => {
      output += String(d);
      const m = /serving the web page on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], proc });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run web exited with ${code} before serving:\n${output}`));
    });
  });
}

const readState = (page: Page) => page.evaluate(() => (window as unknown as { crosskdDemo: DemoState }).crosskdDemo);

/** Polls the page state until `done` holds; fails early on a page error or an error state. */
async function waitFor(page: Page, what: string, done: (s: DemoState) => boolean, timeoutMs: number, pageErrors: string[]): Promise<DemoState> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await readState(page);
    if (pageErrors.length) throw new Error(`page error while waiting for ${what}: ${pageErrors.join('; ')}`);
    if (s.error) throw new Error(`the page stopped with an error while waiting for ${what}: ${s.error}`);
    if (done(s)) return s;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; page state: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const stepText = async (page: Page) => Number(await page.locator('#step').textContent());

describe('web page (npm run web) in headless Chromium', () => {
  let server: { url: string; proc: ChildProcess } | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    requireChromium();
    fs.mkdirSync(SHOTS, { recursive: true });
    server = await startServer();
  });

  afterAll(async () => {
    await browser?.close();
    if (server && server.proc.exitCode === null) {
      const exited = new Promise((r) => server!.proc.once('exit', r));
      server.proc.kill('SIGTERM');
      await exited;
    }
  });

  it('trains the teacher, the student and the CrossKD student live on WebGPU; the loss falls', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_FLAGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server!.url}?${QUERY}`);

    const total = 3 * STEPS;
    // Mid-training: the CrossKD student is training, teacher and student are done (so the
    // comparison and the conflict map are already on the page).
    await waitFor(page, 'the CrossKD student to start training', (s) => s.phase === 'crosskd' && s.step > 2 * STEPS, 240_000, pageErrors);
    const before = await stepText(page);
    const shot = path.join(SHOTS, 'web-mid-training.png');
    await page.screenshot({ path: shot, fullPage: true });
    const after = await stepText(page);
    expect(before, 'step counter on the page before the screenshot').toBeGreaterThan(0);
    expect(after, 'step counter on the page after the screenshot: training was still running').toBeLessThan(total);
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);

    const s = await waitFor(page, 'the run to finish', (st) => st.phase === 'done', 240_000, pageErrors);
    await page.screenshot({ path: path.join(SHOTS, 'web-done.png'), fullPage: true });
    expect(s.adapter, 'the adapter the page reports').not.toBe('');
    expect(s.step).toBe(total);
    expect(await page.locator('#steps-total').textContent()).toBe(String(total));
    for (const key of ['teacher', 'student', 'crosskd'] as const) {
      const l = s.losses[key];
      expect(l, `${key} losses`).toHaveLength(STEPS);
      for (const v of l) expect(Number.isFinite(v), `${key} loss ${v}`).toBe(true);
      // one fixed batch without flips: gradient descent must lower its loss
      expect(l[l.length - 1], `${key} losses ${l.join(', ')}`).toBeLessThan(l[0]);
      const half = Math.floor(l.length / 2);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(l.slice(-half)), `${key} losses ${l.join(', ')}: later steps lower on average`).toBeLessThan(mean(l.slice(0, half)));
    }
    expect(s.terms.teacher.sort()).toEqual(['dfl', 'giou', 'qfl', 'total']);
    expect(s.terms.crosskd.sort()).toEqual(['dfl', 'giou', 'kdCls', 'kdReg', 'qfl', 'total']);

    // the live loss curve is drawn in the teacher's colour
    const teacherPixels = await page.evaluate(([r, g, b]) => {
      const c = document.getElementById('loss-curve') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
      return n;
    }, PALETTE[0]);
    expect(teacherPixels, 'pixels of the teacher curve').toBeGreaterThan(20);

    // detections of the model in training on the two validation images
    expect(await page.locator('#previews canvas').count()).toBe(2);
    // side by side: ground truth and three models, a metrics row each
    for (const key of ['truth', 'teacher', 'student', 'crosskd'])
      expect(await page.locator(`#col-${key}`).evaluate((c) => (c as HTMLCanvasElement).width)).toBeGreaterThan(64);
    await expect.poll(() => page.locator('#metrics tbody tr').count()).toBe(3);
    for (const key of ['teacher', 'student', 'crosskd']) expect(s.mAP[key], `${key} mAP`).toBeGreaterThanOrEqual(0);
    expect(await page.locator('#cap-crosskd').textContent()).toMatch(/student \+ CrossKD: \d+ detection\(s\)/);
    // the conflict map: one map per FPN level (strides 8..64 of a 64-px image)
    expect(await page.locator('#conflict-maps canvas').count()).toBe(4);
    expect(await page.locator('#conflict-maps figcaption').allTextContents()).toEqual([
      expect.stringMatching(/^stride 8 \(8×8\): \d+ of \d+ locations over 0\.5$/),
      expect.stringMatching(/^stride 16 \(4×4\)/),
      expect.stringMatching(/^stride 32 \(2×2\)/),
      expect.stringMatching(/^stride 64 \(1×1\)/),
    ]);
    expect(s.conflictShare).not.toBeNull();
    expect(await page.locator('#conflict-stats').textContent()).toMatch(/^Conflicting locations \(difference > 0\.5\): [\d.]+% of \d+/);

    // choosing another validation image redraws the comparison for it
    const other = page.locator('#thumbs canvas:not(.chosen)').first();
    const title = (await other.getAttribute('title'))!;
    await other.click();
    await expect.poll(() => page.locator('#cap-truth').textContent()).toContain(title.split(':')[0]);
    expect(pageErrors).toEqual([]);
  }, 600_000);

  it('says clearly when the browser has no WebGPU adapter or no navigator.gpu', async () => {
    // Chromium without --enable-unsafe-webgpu on a machine without a GPU: navigator.gpu
    // exists, requestAdapter() returns null.
    const plain = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const page = await plain.newPage();
      await page.goto(`${server!.url}?autostart=1`);
      await page.waitForFunction(() => document.body.dataset.state === 'no-webgpu', undefined, { timeout: 60_000 });
      expect(await page.locator('#no-webgpu').isVisible()).toBe(true);
      expect(await page.locator('#no-webgpu-reason').textContent()).toContain('requestAdapter() returned null');
      expect(await page.locator('#start').isDisabled()).toBe(true);

      // a browser without the API at all
      const context = await plain.newContext();
      await context.addInitScript(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
      });
      const bare = await context.newPage();
      await bare.goto(server!.url);
      await bare.waitForFunction(() => document.body.dataset.state === 'no-webgpu', undefined, { timeout: 60_000 });
      expect(await bare.evaluate(() => 'gpu' in navigator)).toBe(false);
      expect(await bare.locator('#no-webgpu-reason').textContent()).toContain('navigator.gpu is missing');
      expect(await bare.locator('#no-webgpu h2').textContent()).toBe('WebGPU is not available in this browser');
      await bare.screenshot({ path: path.join(SHOTS, 'web-no-webgpu.png') });
    } finally {
      await plain.close();
    }
  }, 180_000);
});
