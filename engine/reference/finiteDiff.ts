import type { RefAttrs, RefOp, RefTensor } from './types.ts';

export interface FdResult {
  /** max over inputs of max|analytic - numeric| / max(max|numeric|, 1e-3) */
  worstRelErr: number;
  perInput: Record<string, number>;
}

/**
 * Checks a reference op's vjp against central finite differences in float64.
 * The scalar probed is L = sum_o sum_i u[o][i] * out[o][i] with fixed random u, so every
 * output and every element contributes. Step h is relative to each element's magnitude.
 * Inputs listed in `skip` (integer labels, non-differentiable arguments) are not probed.
 */
export function finiteDiffCheck(
  op: RefOp,
  inputs: Record<string, RefTensor>,
  attrs: RefAttrs,
  upstream: Record<string, RefTensor>,
  skip: string[] = [],
  h = 1e-6,
): FdResult {
  const scalar = (ins: Record<string, RefTensor>): number => {
    const outs = op.forward(ins, attrs);
    let s = 0;
    for (const [name, u] of Object.entries(upstream)) {
      const o = outs[name];
      if (!o) throw new Error(`finiteDiffCheck: op has no output '${name}'`);
      for (let i = 0; i < u.data.length; i++) s += u.data[i] * o.data[i];
    }
    return s;
  };
  const grads = op.vjp(inputs, attrs, upstream);
  const perInput: Record<string, number> = {};
  let worst = 0;
  for (const [name, t] of Object.entries(inputs)) {
    if (skip.includes(name)) continue;
    const analytic = grads[name];
    const numeric = new Float64Array(t.data.length);
    for (let i = 0; i < t.data.length; i++) {
      const x0 = t.data[i];
      const step = h * Math.max(1, Math.abs(x0));
      const data = t.data.slice();
      data[i] = x0 + step;
      const fp = scalar({ ...inputs, [name]: { shape: t.shape, data } });
      data[i] = x0 - step;
      const fm = scalar({ ...inputs, [name]: { shape: t.shape, data } });
      numeric[i] = (fp - fm) / (2 * step);
    }
    let maxNum = 0;
    let maxDiff = 0;
    for (let i = 0; i < numeric.length; i++) {
      maxNum = Math.max(maxNum, Math.abs(numeric[i]));
      const a = analytic ? analytic.data[i] : 0;
      maxDiff = Math.max(maxDiff, Math.abs(a - numeric[i]));
    }
    const rel = maxDiff / Math.max(maxNum, 1e-3);
    perInput[name] = rel;
    worst = Math.max(worst, rel);
  }
  return { worstRelErr: worst, perInput };
}
