/**
 * The registry of float64 reference ops (engine/reference/index.ts): every op id of docs/op-cases.md, and the error for an unknown one.
 */
import { describe, expect, it } from 'vitest';
import { boxReferenceOps, convReferenceOps, getReferenceOp, lossReferenceOps, normReferenceOps, referenceOps } from '../../engine/reference/index.ts';

const CORE_IDS = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'pow',
  'neg',
  'exp',
  'log',
  'sqrt',
  'abs',
  'sigmoid',
  'relu',
  'clamp',
  'where',
  'sum',
  'mean',
  'max',
  'softmax',
  'log_softmax',
  'matmul',
  'reshape',
  'permute',
  'transpose',
  'slice',
  'concat',
  'pad',
  'index_select',
  'index_add',
  'upsample_nearest2x',
  'max_pool2d',
];

describe('referenceOps registry', () => {
  it('has every core op id of docs/op-cases.md', () => {
    for (const id of CORE_IDS) expect(referenceOps[id], id).toBeDefined();
    expect(Object.keys(referenceOps).sort()).toEqual(
      [
        ...CORE_IDS,
        ...Object.keys(convReferenceOps),
        ...Object.keys(lossReferenceOps),
        ...Object.keys(boxReferenceOps),
        ...Object.keys(normReferenceOps),
      ].sort(),
    );
  });
  it('names the unknown id and lists the known ones', () => {
    expect(() => getReferenceOp('matmull')).toThrow(/unknown op id 'matmull' \(known: .*matmul/);
    expect(() => getReferenceOp('toString')).toThrow(/unknown op id 'toString'/);
  });
});
