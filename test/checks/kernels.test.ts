/**
 * One name per op, kernel files included: every kernels/*.wgsl opens with the op ids it
 * serves (or, for kernels outside the op registry, what uses it), every OpSpec lists its
 * kernels, the two agree in both directions, and running an op's gradcheck cases forward
 * and backward dispatches every kernel its spec lists (a stale list fails).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { prepareCase, runOnGpu } from '../../engine/checks/gradcheck.ts';
import { allSpecs } from '../../engine/checks/registry.ts';
import { dispatchedAsync } from '../helpers/dispatched.ts';

beforeAll(async () => {
  await E.init();
});

const KERNELS = fileURLToPath(new URL('../../kernels/', import.meta.url));
const kernelFiles = readdirSync(KERNELS)
  .filter((f) => f.endsWith('.wgsl'))
  .map((f) => f.slice(0, -'.wgsl'.length))
  .sort();

/** The first line of a kernel: `// op: ID — …`, `// ops: ID, ID — …` or `// used by: …`. */
function header(kernel: string): { ops: string[] } | { usedBy: string } | null {
  const first = readFileSync(`${KERNELS}${kernel}.wgsl`, 'utf8').split('\n')[0];
  const ops = /^\/\/ ops?: ([a-z0-9_]+(?:, [a-z0-9_]+)*) — \S/.exec(first);
  if (ops) return { ops: ops[1].split(', ') };
  const used = /^\/\/ used by: (\S.*)$/.exec(first);
  return used ? { usedBy: used[1] } : null;
}

const opsOf = (kernel: string): string[] => {
  const h = header(kernel);
  return h && 'ops' in h ? h.ops : [];
};

describe('kernel files and op ids', () => {
  it('every kernel opens with the op ids it serves, or with what uses it', () => {
    const bad = kernelFiles.filter((k) => header(k) === null);
    expect(bad, 'kernels whose first line is not "// op: ID — …", "// ops: ID, ID — …" or "// used by: …"').toEqual([]);
    const ids = new Set(allSpecs.map((s) => s.id));
    const unknown = kernelFiles.flatMap((k) =>
      opsOf(k)
        .filter((id) => !ids.has(id))
        .map((id) => `${k}: ${id}`),
    );
    expect(unknown, 'op ids in kernel headers without an OpSpec').toEqual([]);
  });

  it("every spec's kernels exist and name the op, and every kernel naming an op is in its spec", () => {
    for (const spec of allSpecs)
      for (const k of spec.kernels) {
        expect(existsSync(`${KERNELS}${k}.wgsl`), `${spec.id}: kernels/${k}.wgsl`).toBe(true);
        expect(opsOf(k), `kernels/${k}.wgsl's header`).toContain(spec.id);
      }
    for (const k of kernelFiles)
      for (const id of opsOf(k)) expect(allSpecs.find((s) => s.id === id)?.kernels, `kernels/${k}.wgsl names ${id}, whose spec does not list it`).toContain(k);
  });

  it('kernel files are named after their op where they serve one op alone', () => {
    // several files of one op share its id as prefix (conv2d_fwd, conv2d_dx, …)
    const single = kernelFiles.filter((k) => opsOf(k).length === 1);
    const misnamed = single.filter((k) => !k.startsWith(opsOf(k)[0]));
    expect(misnamed, 'single-op kernels whose file name does not start with the op id').toEqual([]);
  });
});

describe("the spec's kernels are the ones its cases dispatch", () => {
  for (const spec of allSpecs)
    it(spec.id, async () => {
      const seen = new Set<string>();
      for (const c of spec.cases) {
        const prep = prepareCase(spec, c);
        const ints = new Set(
          Object.entries(c.inputs)
            .filter(([, g]) => g.dtype === 'int')
            .map(([n]) => n),
        );
        const inputs = Object.fromEntries(Object.entries(prep.inputs).map(([n, t]) => [n, { ...t, int: ints.has(n) }]));
        for (const k of await dispatchedAsync(() => runOnGpu(spec.run, inputs, c.attrs, prep.diffNames, prep.upstream))) seen.add(k);
      }
      expect(
        spec.kernels.filter((k) => !seen.has(k)),
        `kernels ${spec.id}'s spec lists that none of its cases dispatched (dispatched: ${[...seen].sort().join(', ')})`,
      ).toEqual([]);
    });
});
