/**
 * The gradient check of every case of every registered OpSpec (GPU forward and backward
 * against the float64 reference, the reference's vjp against finite differences), the
 * registry itself, and proof that the checker fails what it should.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { gradcheckCase, type GradcheckResult } from '../../engine/checks/gradcheck.ts';
import { allSpecs, specById, specModules } from '../../engine/checks/registry.ts';
import type { OpSpec } from '../../engine/checks/spec.ts';
import { referenceOps } from '../../engine/reference/index.ts';

beforeAll(async () => {
  await E.init();
});

const explain = (r: GradcheckResult): string =>
  `${r.op}/${r.case}: fwd ${r.fwd_err} (tol ${r.tol.fwd}), bwd ${r.bwd_err} (tol ${r.tol.bwd}), fd ${r.fd_err} (tol ${r.tol.fd}); ${r.detail}`;

describe('gradcheck', () => {
  for (const spec of allSpecs)
    describe(spec.id, () => {
      for (const c of spec.cases)
        it(c.name, async () => {
          const r = await gradcheckCase(spec, c);
          expect(r.pass, explain(r)).toBe(true);
        });
    });
});

describe('checks registry', () => {
  it('imports every spec file in engine/checks/specs', () => {
    const dir = fileURLToPath(new URL('../../engine/checks/specs/', import.meta.url));
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .sort();
    expect(Object.keys(specModules).sort()).toEqual(files);
  });

  it('declares each op once, with a known reference id, 2+ cases and a stated tolerance', () => {
    const ids = allSpecs.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of allSpecs) {
      expect(referenceOps[s.id], `${s.id} has no reference op of that id`).toBeDefined();
      expect(s.cases.length, `${s.id} cases`).toBeGreaterThanOrEqual(2);
      expect(new Set(s.cases.map((c) => c.name)).size, `${s.id} case names are unique`).toBe(s.cases.length);
      expect(s.tol.why.length, `${s.id} says why its tolerance is fair`).toBeGreaterThan(20);
    }
  });

  it('names an unknown id and lists the known ones', () => {
    expect(() => specById('addd')).toThrow(/unknown op id 'addd' \(known: .*\badd\b/);
    expect(() => specById('toString')).toThrow(/unknown op id 'toString'/);
  });
});

describe('the gradcheck fails what it should', () => {
  const exp = specById('exp');
  const base = exp.cases[0];
  const withRun = (run: OpSpec['run'], extra: Partial<OpSpec> = {}): OpSpec => ({ ...exp, run, ...extra });

  it('a wrong forward', async () => {
    const r = await gradcheckCase(
      withRun((i) => ({ out: E.mul(E.exp(i.x), 1.001) })),
      base,
    );
    expect(r.pass).toBe(false);
    expect(r.fwd_err).toBeGreaterThan(5e-4);
  });

  it('a right forward with a wrong backward rule', async () => {
    // exp forward, identity backward
    const bad = (x: E.Tensor) =>
      E.record(
        'bad_exp',
        [x],
        E.noGrad(() => E.exp(x)),
        (g) => [E.copy(g)],
      );
    const r = await gradcheckCase(
      withRun((i) => ({ out: bad(i.x) })),
      base,
    );
    expect(r.pass).toBe(false);
    expect(r.fwd_err).toBeLessThan(1e-5);
    expect(r.bwd_err).toBeGreaterThan(0.1);
    expect(r.detail).toMatch(/grad x/);
  });

  it('a reference whose vjp disagrees with its forward', async () => {
    // exp's forward with neg's vjp
    const wrongVjp = { forward: exp.reference.forward, vjp: specById('neg').reference.vjp };
    const r = await gradcheckCase(withRun(exp.run, { reference: wrongVjp }), base);
    expect(r.pass).toBe(false);
    expect(r.fd_err).toBeGreaterThan(0.1);
  });

  it('an op that throws, and one that leaks a tensor', async () => {
    const r = await gradcheckCase(
      withRun(() => {
        throw new Error('boom');
      }),
      base,
    );
    expect(r.pass).toBe(false);
    expect(r.error).toMatch(/boom/);
    const leak = await gradcheckCase(
      withRun((i) => {
        E.keep(E.exp(i.x)); // survives every scope
        return { out: E.exp(i.x) };
      }),
      base,
    );
    expect(leak.pass).toBe(false);
    expect(leak.error).toMatch(/leaked/);
  });
});
