import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { sizeClass } from '../../engine/buffers.ts';
import { loadedKernelSources } from '../../engine/kernelSources.ts';

let rt: E.Runtime;
beforeAll(async () => {
  rt = await E.init();
});

/** A tiny model step: elementwise ops only, so it exercises the runtime, not one kernel. */
function step(x: E.Tensor, w: E.Tensor, b: E.Tensor): E.Tensor {
  const h = E.relu(E.add(E.mul(x, w), b));
  return E.mean(E.mul(h, h));
}

describe('pipelines', () => {
  it('compiles one pipeline per kernel variant, whatever the shapes', async () => {
    const shapes = [[3], [17, 5], [2, 3, 4], [8, 1, 31], [1000], [7, 7, 7, 2]];
    for (const s of shapes)
      E.scope(() => {
        const a = E.randNormal(s, 1);
        const b = E.randNormal(s, 2);
        E.sum(E.add(a, b), -1);
      });
    await rt.sync();
    // binary: one SAME_SHAPE variant of 'add'; fill: one normal variant; reduce_rows: sum
    expect(rt.pipelineCount('binary')).toBe(1);
    expect(rt.pipelineCount('fill')).toBe(1);
    const before = rt.stats.pipelinesCompiled;
    for (const s of shapes) E.scope(() => E.sum(E.add(E.randNormal(s, 3), E.randNormal(s, 4)), -1));
    await rt.sync();
    expect(rt.stats.pipelinesCompiled).toBe(before);
  });
});

describe('kernel sources', () => {
  it('are all read on the first use of any, so a running process keeps them when files change', async () => {
    await E.tensor([1, 2], [2]).data();
    E.neg(E.tensor([1], [1])); // some kernel has run
    const files = (dir: string, prefix: string) =>
      fs
        .readdirSync(new URL(`../../kernels/${dir}`, import.meta.url))
        .filter((f) => f.endsWith('.wgsl'))
        .map((f) => `${prefix}${f.slice(0, -5)}`);
    const onDisk = [...files('', ''), ...files('lib/', 'lib/')].sort();
    expect(loadedKernelSources().filter((n) => onDisk.includes(n))).toEqual(onDisk);
  });
});

describe('command batching', () => {
  it('records a whole forward/backward step without a submit or readback', async () => {
    const x = E.randNormal([64, 32], 1);
    const w = E.requireGrad(E.randNormal([32], 2));
    const b = E.requireGrad(E.randNormal([32], 3));
    await rt.sync();
    const submits = rt.stats.submits;
    const readbacks = rt.stats.readbacks;
    const dispatches = rt.stats.dispatches;
    const loss = E.scope(() => {
      const l = step(x, w, b);
      E.backward(l);
      return l;
    });
    expect(rt.stats.dispatches - dispatches).toBeGreaterThan(10);
    expect(rt.stats.submits).toBe(submits);
    expect(rt.stats.readbacks).toBe(readbacks);
    // the first readback submits everything at once
    expect(Number.isFinite(await loss.item())).toBe(true);
    expect(rt.stats.submits).toBe(submits + 1);
    expect(rt.stats.readbacks).toBe(readbacks + 1);
    for (const t of [x, w, b, loss]) t.dispose();
  });
});

describe('memory', () => {
  it('releases dropped bind groups: 40 000 distinct ones leave the driver mappings bounded', async () => {
    // On lavapipe every bind group holds a 4 KiB memfd mapping until Dawn frees it, which
    // it does only when V8 collects the JS wrapper; Linux allows 65530 mappings per
    // process. Before the runtime collected garbage on dropping its bind-group cache, this
    // loop left ~40 000 mappings (an experiment crashed with SIGSEGV past the limit).
    const mappings = () =>
      fs
        .readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.includes('memfd:')).length;
    const xs = Array.from({ length: 200 }, (_, i) => E.tensor([i, i + 1, i + 2, i + 3], [4]));
    await xs[0].data();
    const before = mappings();
    for (let i = 0; i < xs.length; i++) {
      // one new bind group per (i, j); a readback per row, as a training step has
      const row = E.scope(() => {
        let last = E.add(xs[i], xs[0]);
        for (let j = 1; j < xs.length; j++) last = E.add(xs[i], xs[j]);
        return last;
      });
      await row.data();
      row.dispose();
    }
    const sum = E.add(xs[199], xs[198]);
    expect(Array.from(await sum.data())).toEqual([397, 399, 401, 403]);
    expect(mappings() - before, 'driver mappings added by 40 000 distinct bind groups').toBeLessThan(20_000);
    sum.dispose();
    for (const x of xs) x.dispose();
  });

  it('keeps live tensors and bytes flat over 100 forward/backward iterations', async () => {
    const x = E.randNormal([32, 16], 1);
    const w = E.requireGrad(E.randNormal([16], 2));
    const b = E.requireGrad(E.randNormal([16], 3));
    const samples: { live: number; inUse: number; pooled: number; buffers: number }[] = [];
    for (let i = 0; i < 100; i++) {
      E.scope(() => {
        const loss = step(x, w, b);
        E.backward(loss);
        // an SGD-like update without a readback: new parameters replace the old
        E.noGrad(() => {
          const nw = E.sub(w, E.scale(w.grad!, 0.01));
          const nb = E.sub(b, E.scale(b.grad!, 0.01));
          E.keep(nw);
          E.keep(nb);
          return [nw, nb];
        }).forEach((t) => t.dispose());
        w.grad!.dispose();
        w.grad = null;
        b.grad!.dispose();
        b.grad = null;
      });
      if (i % 10 === 9) {
        await rt.sync();
        const m = E.memory();
        samples.push({ live: m.liveTensors, inUse: m.bytesInUse, pooled: m.bytesPooled, buffers: m.buffersLive });
      }
    }
    // after the first samples (pool warm), nothing grows
    const first = samples[1];
    for (const s of samples.slice(2)) {
      expect(s.live).toBe(first.live);
      expect(s.inUse).toBe(first.inUse);
      expect(s.pooled).toBe(first.pooled);
      expect(s.buffers).toBe(first.buffers);
    }
    for (const t of [x, w, b]) t.dispose();
  });

  it('returns a disposed tensor’s buffer to the pool, counted by size class', async () => {
    await rt.sync();
    const m0 = E.memory();
    const t = E.zeros([1000]);
    const m1 = E.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors + 1);
    expect(m1.bytesInUse - m0.bytesInUse).toBe(sizeClass(4000));
    t.dispose();
    await rt.sync();
    const m2 = E.memory();
    expect(m2.liveTensors).toBe(m0.liveTensors);
    expect(m2.bytesInUse).toBe(m0.bytesInUse);
    // the buffer stays in existence, pooled: at most one more than before, the same after
    expect(m1.buffersLive - m0.buffersLive).toBeLessThanOrEqual(1);
    expect(m2.buffersLive).toBe(m1.buffersLive);
  });

  it('does not reuse a buffer released by unsubmitted commands for an upload', async () => {
    // t is read by a recorded (unsubmitted) dispatch, then disposed; a new tensor of the
    // same size uploaded right away must not overwrite t before the dispatch runs.
    const t = E.tensor([1, 2, 3, 4]);
    await rt.sync();
    const y = E.scale(t, 10);
    t.dispose();
    const u = E.tensor([100, 200, 300, 400]);
    expect(Array.from(await y.data())).toEqual([10, 20, 30, 40]);
    expect(Array.from(await u.data())).toEqual([100, 200, 300, 400]);
    y.dispose();
    u.dispose();
  });
});

describe('scope', () => {
  it('frees what the block created except what it returns', async () => {
    const before = E.memory().liveTensors;
    const out = E.scope(() => {
      const a = E.ones([4]);
      const b = E.add(a, a);
      return { b, list: [E.scale(b, 2)] };
    });
    expect(E.memory().liveTensors).toBe(before + 2);
    expect(Array.from(await out.list[0].data())).toEqual([4, 4, 4, 4]);
    out.b.dispose();
    out.list[0].dispose();
    expect(E.memory().liveTensors).toBe(before);
  });

  it('rejects an async block', () => {
    // @ts-expect-error: a promise is not a valid scope result
    expect(() => E.scope(async () => E.ones([1]))).toThrow(/synchronous/);
  });
});

describe('seeded random tensors', () => {
  it('match the CPU stream of engine/random.ts', async () => {
    const { uniformAt, normalAt } = await import('../../engine/random.ts');
    const u = await E.randUniform([257], 42, -1, 3).data();
    const n = await E.randNormal([257], 42, 0.5, 2).data();
    for (let i = 0; i < 257; i++) {
      expect(u[i]).toBeCloseTo(-1 + 4 * uniformAt(42, i), 5);
      expect(n[i]).toBeCloseTo(0.5 + 2 * normalAt(42, i), 4);
    }
  });
});
