/**
 * Every case of every test/opcases/*.json file through the parity runner (each case must
 * pass), and the runner's own handling of bad files: unknown op ids, attributes and
 * inputs, malformed JSON, missing fields, data length mismatches, null gradients that are
 * not zero, and a wrong expected output failing `npm run parity` with a non-zero exit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { checkCase, formatResult, loadCaseFile, runParityFiles, type CaseFile } from '../../engine/checks/parity.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OPCASES = join(ROOT, 'test/opcases');

beforeAll(async () => {
  await E.init();
});

describe('parity files', () => {
  const files = readdirSync(OPCASES)
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const f of files)
    describe(f, () => {
      let file: CaseFile;
      try {
        file = loadCaseFile(join(OPCASES, f));
      } catch (e) {
        it('loads', () => {
          throw e;
        });
        return;
      }
      file.cases.forEach((raw, i) => {
        const name = (raw as { name?: string }).name ?? `#${i}`;
        it(name, async () => {
          const r = await checkCase(file, i);
          expect(r.pass, formatResult(r)).toBe(true);
        });
      });
    });
});

// ------------------------------------------------------------------ runner errors

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test fixtures are edited freely
type Json = Record<string, any>;

const binary = JSON.parse(readFileSync(join(OPCASES, 'binary.json'), 'utf8')) as Json;
/** A fresh copy of a real, passing case. */
const goodCase = (): Json => structuredClone(binary.cases.find((c: Json) => c.name === 'add_3x4_3x4'));
const fileOf = (...cases: Json[]): Json => ({ schema_version: 1, family: 'test', reference: 'test', cases });

describe('parity runner errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parity-test-'));
  let n = 0;
  const write = (content: Json | string): string => {
    const path = join(dir, `case${n++}.json`);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  /** The result of the single case of a file holding `c`. */
  const runOne = async (c: Json) => checkCase(loadCaseFile(write(fileOf(c))), 0);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the untouched case', async () => {
    const r = await runOne(goodCase());
    expect(r.pass, formatResult(r)).toBe(true);
    expect(r.worst).toBeLessThanOrEqual(1);
  });

  it('unknown op id: an error naming the case, not a skip', async () => {
    const r = await runOne({ ...goodCase(), name: 'my_case', op: 'addd' });
    expect(r.pass).toBe(false);
    expect(r.error).toMatch(/case 'my_case'.*unknown op id 'addd' \(known: .*\badd\b/);
  });

  it('unknown attribute', async () => {
    const r = await runOne({ ...goodCase(), attributes: { alpha: 2 } });
    expect(r.pass).toBe(false);
    expect(r.error).toMatch(/case 'add_3x4_3x4'.*unknown attribute 'alpha' for op 'add'/);
  });

  it('unknown input name', async () => {
    const c = goodCase();
    c.inputs.c = c.inputs.b;
    delete c.inputs.b;
    const r = await runOne(c);
    expect(r.error).toMatch(/unknown input 'c' for op 'add' \(accepted: a, b\)/);
  });

  it('malformed JSON', async () => {
    const path = write('{"schema_version": 1, "cases": [');
    expect(() => loadCaseFile(path)).toThrow(/case\d+\.json: malformed JSON/);
    const lines: string[] = [];
    const { failed } = await runParityFiles([path], (l) => lines.push(l));
    expect(failed).toBe(1);
    expect(lines.at(-1)).toBe('0 passed, 1 failed');
  });

  it('missing fields, of the file and of a case', async () => {
    const { cases: _, ...noCases } = fileOf(goodCase());
    expect(() => loadCaseFile(write(noCases))).toThrow(/missing field 'cases'/);
    const c = goodCase();
    delete c.outputs;
    expect((await runOne(c)).error).toMatch(/case 'add_3x4_3x4': missing field 'outputs'/);
    const g = goodCase();
    delete g.grads.a;
    expect((await runOne(g)).error).toMatch(/missing field 'grads.a'/);
    const t = goodCase();
    delete t.inputs.a.requires_grad;
    expect((await runOne(t)).error).toMatch(/missing field 'inputs.a.requires_grad'/);
  });

  it('data length mismatch', async () => {
    const c = goodCase();
    c.inputs.a.data.pop();
    const r = await runOne(c);
    expect(r.error).toMatch(/data length mismatch in 'inputs.a': shape \[3,4\] needs 12 values, got 11/);
    const o = goodCase();
    o.outputs.out.shape = [4, 3, 1];
    o.outputs.out.data.push(0);
    expect((await runOne(o)).error).toMatch(/data length mismatch in 'outputs.out'/);
  });

  it('int64 inputs out of the int32 range', async () => {
    const c = goodCase();
    c.inputs.a = { dtype: 'int64', shape: [3, 4], requires_grad: false, data: Array(12).fill(2 ** 40) };
    delete c.grads.a;
    expect((await runOne(c)).error).toMatch(/inputs.a.data\[0\]' = 1099511627776 is out of the int32 range/);
  });

  it('a null gradient must come out exactly zero', async () => {
    const c = goodCase();
    c.grads.b = null; // b does feed the output
    const r = await runOne(c);
    expect(r.pass).toBe(false);
    expect(formatResult(r)).toMatch(/grads.b.*null requires exactly zero/);
    // and where it is really zero (b unused by where with an all-true condition), null passes
    const where = JSON.parse(readFileSync(join(OPCASES, 'where.json'), 'utf8')) as Json;
    const unused = where.cases.find((w: Json) => w.name === 'where_all_true_3x4_b_unused');
    expect(unused.grads.b).toBeNull();
    const ok = await runOne(unused);
    expect(ok.pass, formatResult(ok)).toBe(true);
  });

  it('a wrong expected output fails `npm run parity` with a non-zero exit; a right one exits 0', () => {
    const wrong = goodCase();
    wrong.outputs.out.data[5] += 1e-3;
    const tsx = join(ROOT, 'node_modules/.bin/tsx');
    const bad = spawnSync(tsx, ['scripts/parity.ts', write(fileOf(wrong))], { cwd: ROOT, encoding: 'utf8' });
    expect(bad.status, bad.stderr).not.toBe(0);
    expect(bad.stdout).toMatch(/FAIL case\d+\.json:add_3x4_3x4 {2}worst .*outputs.out/);
    expect(bad.stdout.trim().split('\n').at(-1)).toBe('0 passed, 1 failed');
    const good = spawnSync(tsx, ['scripts/parity.ts', write(fileOf(goodCase()))], { cwd: ROOT, encoding: 'utf8' });
    expect(good.status, good.stdout + good.stderr).toBe(0);
    expect(good.stdout.trim().split('\n').at(-1)).toBe('1 passed, 0 failed');
  });
});
