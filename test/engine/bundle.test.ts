/**
 * The browser bundle: one ES module with every kernel inlined, no Node imports, and it
 * runs where navigator.gpu exists (here Dawn's GPU presented as navigator.gpu, as a page
 * would see it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleEngine, collectKernelSources } from '../../scripts/bundle.ts';

describe('browser bundle', () => {
  it('inlines every kernel, imports nothing from Node, and computes on navigator.gpu', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crosskd-bundle-')), 'engine.js');
    await bundleEngine(out);
    const text = fs.readFileSync(out, 'utf8');
    const kernels = collectKernelSources();
    expect(Object.keys(kernels)).toEqual(expect.arrayContaining(['binary', 'conv2d_fwd', 'lib/index']));
    for (const name of Object.keys(kernels)) expect(text).toContain(JSON.stringify(name));
    expect(text).not.toMatch(/from\s+["']node:/);
    const { create, globals } = (await import('webgpu')) as { create: (o: string[]) => GPU; globals: object };
    Object.assign(globalThis, globals);
    const nav = globalThis as { navigator?: { gpu?: GPU } };
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
    try {
      const engine = await import(out);
      await engine.init();
      const y = engine.sum(engine.mul(engine.tensor([1, 2, 3]), engine.tensor([4, 5, 6])));
      expect(await y.item()).toBe(32);
      expect(nav.navigator?.gpu).toBeDefined();
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
    }
  });
});
