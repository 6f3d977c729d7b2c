/** The tensors of test/io/fixtures/pth/state.json (written by scripts/gen_pth_fixtures.py) as PthTensors. */
import type { PthDType, PthTensor } from '../../engine/io/pth.ts';

export interface ExpectedTensor {
  dtype: PthDType;
  shape: number[];
  /** row-major; float16/bfloat16 as bit patterns, int64 as decimal strings, bool as 0/1 */
  values: (number | string)[];
}

export function fixtureTensors(json: Record<string, ExpectedTensor>): Map<string, PthTensor> {
  const out = new Map<string, PthTensor>();
  for (const [k, e] of Object.entries(json)) {
    const v = e.values;
    const data =
      e.dtype === 'float32'
        ? Float32Array.from(v as number[])
        : e.dtype === 'float64'
          ? Float64Array.from(v as number[])
          : e.dtype === 'float16' || e.dtype === 'bfloat16'
            ? Uint16Array.from(v as number[])
            : e.dtype === 'int64'
              ? BigInt64Array.from(v as string[], (s) => BigInt(s))
              : e.dtype === 'int32'
                ? Int32Array.from(v as number[])
                : e.dtype === 'int16'
                  ? Int16Array.from(v as number[])
                  : e.dtype === 'int8'
                    ? Int8Array.from(v as number[])
                    : Uint8Array.from(v as number[]);
    out.set(k, { dtype: e.dtype, shape: e.shape, data });
  }
  return out;
}
