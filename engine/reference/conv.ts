/** Float64 CPU reference of conv2d (ids and inputs of docs/op-cases.md); see args.ts for the conventions. */
import type { RefAttrs, RefOp, RefTensor } from './types.ts';
import { fmtShape, tensor, fail, input, optionalInput, expectRank, expectShape, intAttr, pairAttr, upstreamOf } from './args.ts';

// ─────────────────────────────────── conv2d ───────────────────────────────────

interface ConvGeom {
  N: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  kh: number;
  kw: number;
  groups: number;
  cinG: number;
  coutG: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  OH: number;
  OW: number;
}

function convGeom(inputs: Record<string, RefTensor>, attrs: RefAttrs): ConvGeom {
  const op = 'conv2d';
  const x = input(op, inputs, 'x');
  const w = input(op, inputs, 'weight');
  const b = optionalInput(op, inputs, 'bias');
  expectRank(op, 'x', x, 4, '[N,Cin,H,W]');
  expectRank(op, 'weight', w, 4, '[Cout,Cin/groups,kh,kw]');
  const [N, Cin, H, W] = x.shape;
  const [Cout, wCin, kh, kw] = w.shape;
  const [sh, sw] = pairAttr(op, attrs, 'stride', 1, 1);
  const [ph, pw] = pairAttr(op, attrs, 'padding', 0, 0);
  const [dh, dw] = pairAttr(op, attrs, 'dilation', 1, 1);
  const groups = intAttr(op, attrs, 'groups', 1, 1);
  if (Cin % groups !== 0) fail(op, 'x', `a channel count divisible by groups = ${groups}`, `Cin = ${Cin}`);
  if (Cout % groups !== 0) fail(op, 'weight', `an output channel count divisible by groups = ${groups}`, `Cout = ${Cout}`);
  if (wCin !== Cin / groups) {
    fail(op, 'weight', `shape [${Cout},${Cin / groups},kh,kw] (Cin/groups = ${Cin}/${groups})`, `shape ${fmtShape(w.shape)}`);
  }
  if (b) expectShape(op, 'bias', b, [Cout]);
  // Output size with dilated kernel extent d·(k-1)+1, as in PyTorch.
  const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (OH < 1 || OW < 1) {
    fail(op, 'x', `a padded input at least as large as the dilated kernel (${dh * (kh - 1) + 1}x${dw * (kw - 1) + 1})`, `${H}x${W} with padding [${ph},${pw}]`);
  }
  return { N, Cin, H, W, Cout, kh, kw, groups, cinG: Cin / groups, coutG: Cout / groups, sh, sw, ph, pw, dh, dw, OH, OW };
}

/**
 * Visits every (output element, weight element, input element) triple that contributes,
 * skipping zero padding. Forward and both gradients are the same loop with a different
 * accumulation, which keeps them consistent by construction.
 */
function convVisit(g: ConvGeom, visit: (oIdx: number, wIdx: number, xIdx: number, co: number) => void): void {
  for (let n = 0; n < g.N; n++) {
    for (let co = 0; co < g.Cout; co++) {
      const grp = Math.floor(co / g.coutG);
      for (let oy = 0; oy < g.OH; oy++) {
        for (let ox = 0; ox < g.OW; ox++) {
          const oIdx = ((n * g.Cout + co) * g.OH + oy) * g.OW + ox;
          for (let ci = 0; ci < g.cinG; ci++) {
            const c = grp * g.cinG + ci;
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.sh - g.ph + ky * g.dh;
              if (iy < 0 || iy >= g.H) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.sw - g.pw + kx * g.dw;
                if (ix < 0 || ix >= g.W) continue;
                visit(oIdx, ((co * g.cinG + ci) * g.kh + ky) * g.kw + kx, ((n * g.Cin + c) * g.H + iy) * g.W + ix, co);
              }
            }
          }
        }
      }
    }
  }
}

const conv2d: RefOp = {
  forward(inputs, attrs) {
    const g = convGeom(inputs, attrs);
    const x = inputs.x.data;
    const w = inputs.weight.data;
    const b = inputs.bias?.data;
    const out = tensor([g.N, g.Cout, g.OH, g.OW]);
    if (b) {
      const plane = g.OH * g.OW;
      for (let i = 0; i < out.data.length; i++) out.data[i] = b[Math.floor(i / plane) % g.Cout];
    }
    convVisit(g, (o, wi, xi) => {
      out.data[o] += w[wi] * x[xi];
    });
    return { out };
  },
  vjp(inputs, attrs, upstream) {
    const g = convGeom(inputs, attrs);
    const x = inputs.x.data;
    const w = inputs.weight.data;
    const u = upstreamOf('conv2d', upstream, 'out', g.N * g.Cout * g.OH * g.OW);
    const dx = tensor([...inputs.x.shape]);
    const dw = tensor([...inputs.weight.shape]);
    convVisit(g, (o, wi, xi) => {
      dx.data[xi] += u[o] * w[wi];
      dw.data[wi] += u[o] * x[xi];
    });
    const grads: Record<string, RefTensor | null> = { x: dx, weight: dw };
    if (inputs.bias) {
      const db = tensor([g.Cout]);
      const plane = g.OH * g.OW;
      for (let i = 0; i < u.length; i++) db.data[Math.floor(i / plane) % g.Cout] += u[i];
      grads.bias = db;
    }
    return grads;
  },
};

export const convReferenceOps: Record<string, RefOp> = { conv2d };
