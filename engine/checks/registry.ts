/**
 * Every OpSpec, by op id: the one list the gradcheck, the parity runner and the test
 * suites read. A new spec file in ./specs/ adds one import and one entry in `specModules`
 * (test/checks/gradcheck.test.ts fails while a file in specs/ is not listed here).
 * Each module may export its specs under any name: every exported OpSpec, or array of
 * OpSpecs, is collected.
 */
import type { OpSpec } from './spec.ts';
import * as boxes from './specs/boxes.ts';
import * as conv from './specs/conv.ts';
import * as elementwise from './specs/elementwise.ts';
import * as gather from './specs/gather.ts';
import * as losses from './specs/losses.ts';
import * as matmul from './specs/matmul.ts';
import * as movement from './specs/movement.ts';
import * as norm from './specs/norm.ts';
import * as reduce from './specs/reduce.ts';
import * as softmax from './specs/softmax.ts';

/** The spec modules by file name in ./specs/. */
export const specModules: Record<string, Record<string, unknown>> = {
  'boxes.ts': boxes,
  'conv.ts': conv,
  'elementwise.ts': elementwise,
  'gather.ts': gather,
  'losses.ts': losses,
  'matmul.ts': matmul,
  'movement.ts': movement,
  'norm.ts': norm,
  'reduce.ts': reduce,
  'softmax.ts': softmax,
};

function isSpec(v: unknown): v is OpSpec {
  const s = v as Partial<OpSpec> | null;
  return !!s && typeof s === 'object' && typeof s.id === 'string' && typeof s.run === 'function' && Array.isArray(s.cases);
}

function collect(): OpSpec[] {
  const out: OpSpec[] = [];
  const where = new Map<string, string>();
  for (const [file, mod] of Object.entries(specModules)) {
    for (const value of Object.values(mod)) {
      const specs = Array.isArray(value) ? value.filter(isSpec) : isSpec(value) ? [value] : [];
      for (const spec of specs) {
        if (out.includes(spec)) continue; // exported both alone and in a list
        const prev = where.get(spec.id);
        if (prev) throw new Error(`checks registry: op id '${spec.id}' is declared twice (specs/${prev} and specs/${file})`);
        where.set(spec.id, file);
        out.push(spec);
      }
    }
  }
  return out;
}

export const allSpecs: OpSpec[] = collect();

const byId = new Map(allSpecs.map((s) => [s.id, s]));

/** The spec of op `id`, or an Error listing the known ids. */
export function specById(id: string): OpSpec {
  const spec = byId.get(id);
  if (!spec) throw new Error(`unknown op id '${id}' (known: ${[...byId.keys()].sort().join(', ')})`);
  return spec;
}

/** Whether `id` has a spec. */
export function hasSpec(id: string): boolean {
  return byId.has(id);
}
