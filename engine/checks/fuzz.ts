/**
 * A small mutation fuzzer for the readers of untrusted files (safetensors, checkpoint
 * sidecars, COCO annotations, PNG, .pth). From a fixed seed it derives inputs from valid
 * ones — truncations, bit flips, overwritten and inserted bytes, huge declared lengths,
 * and for JSON: removed, duplicated and retyped keys, huge numbers and shapes, deep
 * nesting — and checks that each input is either read or refused with one of the
 * reader's own errors: a message naming the source, never a TypeError or RangeError from
 * a path nobody thought of, and never slower than a bound per input.
 *
 * Pure: the caller supplies the targets (engine/ never imports detection/).
 */
import { concatBytes } from '../io/zip.ts';

/** mulberry32: a tiny seeded PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;
const int = (rand: Random, n: number) => Math.floor(rand() * n);
const pick = <T>(rand: Random, xs: readonly T[]): T => xs[int(rand, xs.length)];

/** One mutation of a table, chosen by `rand` (format-aware mutations build on the generic ones). */
export const pickMutation = <F>(rand: Random, table: Record<string, F>): F => table[pick(rand, Object.keys(table))];

// ------------------------------------------------------------------ bytes

/** Byte-level mutations of any file. */
export const BYTE_MUTATIONS: Record<string, (b: Uint8Array, rand: Random) => Uint8Array> = {
  truncate: (b, rand) => b.slice(0, int(rand, b.length)),
  'flip bits': (b, rand) => {
    const c = b.slice();
    for (let k = 1 + int(rand, 8); k > 0 && c.length; k--) c[int(rand, c.length)] ^= 1 << int(rand, 8);
    return c;
  },
  'overwrite bytes': (b, rand) => {
    const c = b.slice();
    const at = int(rand, c.length);
    c.fill(pick(rand, [0x00, 0xff, 0x7f, 0x80, 0x22, 0x5b]), at, at + 1 + int(rand, 16));
    return c;
  },
  'insert bytes': (b, rand) => {
    const at = int(rand, b.length + 1);
    const extra = Uint8Array.from({ length: 1 + int(rand, 32) }, () => int(rand, 256));
    return concatBytes([b.subarray(0, at), extra, b.subarray(at)]);
  },
  'duplicate a slice': (b, rand) => {
    const from = int(rand, b.length);
    const to = Math.min(b.length, from + 1 + int(rand, 64));
    const at = int(rand, b.length + 1);
    return concatBytes([b.subarray(0, at), b.subarray(from, to), b.subarray(at)]);
  },
  'huge length word': (b, rand) => {
    // a 4- or 8-byte length field set to a huge value (little- or big-endian)
    const c = b.slice();
    const dv = new DataView(c.buffer);
    const at = int(rand, Math.max(1, c.length - 8));
    if (c.length >= at + 8)
      rand() < 0.5
        ? dv.setBigUint64(at, pick(rand, [2n ** 63n, 2n ** 40n, 2n ** 32n - 1n, 10n ** 12n]), true)
        : dv.setUint32(at, pick(rand, [0xffffffff, 0x7fffffff, 0x10000000]), rand() < 0.5);
    return c;
  },
};

// ------------------------------------------------------------------ JSON

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every [container, key] inside a JSON value (the root excluded). */
function slots(v: Json, out: [Json[] | Record<string, Json>, string | number][] = []): [Json[] | Record<string, Json>, string | number][] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([v, k]), slots(x, out);
  return out;
}

/**
 * Deep nesting is spliced in as text (a placeholder string replaced after stringify):
 * JSON.stringify itself recurses, and would overflow on the nesting being tested.
 */
const DEEP = (depth: number): Json => `__deep${depth}__`;
export const withDeep = (text: string) => text.replace(/"__deep(\d+)__"/g, (_m, d) => `${'['.repeat(Number(d))}${']'.repeat(Number(d))}`);

/** Values a field is replaced with: other types, edge numbers, huge shapes, deep nesting. */
const REPLACEMENTS: readonly (() => Json)[] = [
  () => null,
  () => true,
  () => '',
  () => 'x',
  () => -1,
  () => 0,
  () => 1.5,
  () => 1e308,
  () => -1e308,
  () => 2 ** 53 + 2,
  () => 4294967296,
  () => [],
  () => ({}),
  () => [1e9, 1e9, 1e9],
  () => [-1],
  () => ['a'],
  () => DEEP(200),
  () => DEEP(100_000),
  () => ({ __proto__: 1, constructor: 'x' }) as Json,
  () => 'F16',
  () => 'I64',
  () => '../../etc/passwd',
];

/** Mutations of a parsed JSON document, each returning the new document's text. */
export const JSON_MUTATIONS: Record<string, (doc: Json, rand: Random) => string> = {
  'remove a key': (doc, rand) => {
    const s = slots(doc);
    if (s.length) {
      const [c, k] = pick(rand, s);
      if (Array.isArray(c)) c.splice(k as number, 1);
      else delete c[k as string];
    }
    return JSON.stringify(doc);
  },
  'retype a value': (doc, rand) => {
    const s = slots(doc);
    if (s.length) {
      const [c, k] = pick(rand, s);
      (c as Record<string, Json>)[k as string] = pick(rand, REPLACEMENTS)();
    }
    return JSON.stringify(doc);
  },
  'duplicate a key': (doc, rand) => {
    // textual: JSON.parse keeps the last of two equal keys, so the reader sees the second value
    const text = JSON.stringify(doc);
    const keys = [...text.matchAll(/"((?:[^"\\]|\\.)*)":/g)];
    if (!keys.length) return text;
    const m = pick(rand, keys);
    const value = JSON.stringify(pick(rand, REPLACEMENTS)());
    return `${text.slice(0, m.index)}"${m[1]}":${value},${text.slice(m.index)}`;
  },
  'add an unknown key': (doc, rand) => {
    const objects = [doc, ...slots(doc).map(([c, k]) => (c as Record<string, Json>)[k as string])].filter(
      (v) => v && typeof v === 'object' && !Array.isArray(v),
    ) as Record<string, Json>[];
    if (objects.length) pick(rand, objects)[`fuzz${int(rand, 100)}`] = pick(rand, REPLACEMENTS)();
    return JSON.stringify(doc);
  },
  'replace the document': (_doc, rand) => JSON.stringify(pick(rand, REPLACEMENTS)()),
};

// ------------------------------------------------------------------ running

export interface FuzzTarget {
  name: string;
  /** valid inputs the mutations start from */
  seeds: readonly Uint8Array[];
  /** whether the input is JSON text (then JSON mutations are used too) */
  json?: boolean;
  /**
   * Mutations of this format's own structure (e.g. a safetensors header rewritten with a
   * valid length), in addition to the generic ones.
   */
  mutations?: Record<string, (b: Uint8Array, rand: Random) => Uint8Array>;
  /** reads one input; returns the bytes it allocated for its result (checked against the input's size) */
  read: (bytes: Uint8Array, source: string) => number;
  /** whether an error is one of the reader's own (a deliberate, clear message) */
  isClearError: (e: unknown, source: string) => boolean;
  /** result bytes allowed per input byte (default 4) */
  maxExpansion?: number;
}

export interface FuzzFailure {
  iteration: number;
  mutation: string;
  problem: string;
  /** the input, base64, to reproduce */
  input: string;
}

export interface FuzzReport {
  target: string;
  iterations: number;
  /** inputs read without error / refused with a clear error */
  read: number;
  refused: number;
  slowestMs: number;
  failures: FuzzFailure[];
  /** inputs per mutation */
  byMutation: Record<string, number>;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/**
 * Runs `iterations` mutated inputs through a target. A failure is an exception that is not
 * the reader's clear error, an input that took longer than `maxMsPerInput`, or a result
 * larger than `maxExpansion` × the input's size.
 */
export function fuzz(target: FuzzTarget, opts: { iterations: number; seed: number; maxMsPerInput?: number; maxFailures?: number }): FuzzReport {
  const rand = seededRandom(opts.seed);
  const maxMs = opts.maxMsPerInput ?? 1000;
  const mutations: [string, (b: Uint8Array, rand: Random) => Uint8Array][] = [...Object.entries(BYTE_MUTATIONS), ...Object.entries(target.mutations ?? {})];
  if (target.json)
    for (const [name, m] of Object.entries(JSON_MUTATIONS))
      mutations.push([name, (b, r) => textEncoder.encode(withDeep(m(JSON.parse(textDecoder.decode(b)) as Json, r)))]);
  const report: FuzzReport = { target: target.name, iterations: opts.iterations, read: 0, refused: 0, slowestMs: 0, failures: [], byMutation: {} };
  for (let i = 0; i < opts.iterations; i++) {
    let input = pick(rand, target.seeds);
    // one to three mutations stacked; JSON ones need text that still parses
    const names: string[] = [];
    for (let k = 1 + int(rand, 3); k > 0; k--) {
      const [name, m] = pick(rand, mutations);
      if (target.json && name in JSON_MUTATIONS && !parses(input)) continue;
      input = m(input, rand);
      names.push(name);
    }
    const mutation = names.join(' + ') || 'none';
    report.byMutation[mutation] = (report.byMutation[mutation] ?? 0) + 1;
    const source = `fuzz-input-${i}`;
    const fail = (problem: string) => {
      if (report.failures.length < (opts.maxFailures ?? 20))
        report.failures.push({ iteration: i, mutation, problem, input: Buffer.from(input).toString('base64') });
    };
    const started = performance.now();
    try {
      const allocated = target.read(input, source);
      report.read++;
      const limit = (target.maxExpansion ?? 4) * input.length + 1024;
      if (allocated > limit) fail(`read, but its result holds ${allocated} bytes from a ${input.length}-byte input`);
    } catch (e) {
      if (target.isClearError(e, source)) report.refused++;
      else fail(`threw ${(e as Error)?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 300)}`);
    }
    const ms = performance.now() - started;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > maxMs) fail(`took ${ms.toFixed(0)} ms (bound ${maxMs} ms)`);
  }
  return report;
}

/** Whether JSON mutations can take this input: it parses, without nesting deep enough to overflow JSON.stringify. */
function parses(b: Uint8Array): boolean {
  try {
    const text = textDecoder.decode(b);
    if (text.includes('['.repeat(256))) return false;
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The usual test of a clear error: an Error of the reader's own making (plain Error or a
 * subclass it names), not one of the built-in failures of unexpected input (TypeError,
 * RangeError, SyntaxError, ...), whose message names the source.
 */
export function isOwnError(allowed: readonly (new (...a: never[]) => Error)[]): (e: unknown, source: string) => boolean {
  return (e, source) => e instanceof Error && (e.constructor === Error || allowed.some((c) => e.constructor === c)) && e.message.includes(source);
}
