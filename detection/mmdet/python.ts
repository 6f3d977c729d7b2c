/**
 * Python source for mmengine config files: JS values as Python literals, objects as
 * `dict(key=value)` calls (the style of mmdetection's own configs), arrays as lists, and
 * tuples where mmdetection wants one (`out_indices=(0, 1, 2, 3)`).
 */

/** A Python tuple in a written config. */
export class PyTupleLiteral {
  constructor(readonly items: readonly unknown[]) {}
}
export const pyTuple = (...items: unknown[]) => new PyTupleLiteral(items);

/** A number written as a Python float even when whole (`1.0`): for arguments checked with isinstance(x, float). */
export class PyFloatLiteral {
  constructor(readonly value: number) {}
}
export const pyFloat = (value: number) => new PyFloatLiteral(value);

/** A name bound earlier in the config (`metainfo`), written as itself. */
export class PyNameLiteral {
  constructor(readonly name: string) {}
}
export const pyName = (name: string) => new PyNameLiteral(name);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function scalar(v: unknown, where: string): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`pyLiteral: ${where} is ${v}, not a finite number`);
    return String(v); // JS's shortest round-trip form is valid Python (1e-8, 0.25, 100000000)
  }
  // JSON's escapes (\", \\, \n, \uXXXX) mean the same in a Python string literal
  if (typeof v === 'string') return JSON.stringify(v);
  throw new Error(`pyLiteral: ${where} has no Python literal (${typeof v})`);
}

/** The Python literal of a value, nested containers indented by 4 from `indent`. */
export function pyLiteral(v: unknown, indent = 0, where = 'value'): string {
  const pad = ' '.repeat(indent + 4);
  const close = ' '.repeat(indent);
  const items = (xs: readonly unknown[], open: string, end: string, trailingComma: boolean) => {
    if (xs.length === 0) return open + end;
    const parts = xs.map((x, i) => pyLiteral(x, indent + 4, `${where}[${i}]`));
    const flat = `${open}${parts.join(', ')}${trailingComma && xs.length === 1 ? ',' : ''}${end}`;
    if (!flat.includes('\n') && flat.length + indent <= 88) return flat;
    return `${open}\n${parts.map((p) => pad + p).join(',\n')},\n${close}${end}`;
  };
  if (v instanceof PyNameLiteral) {
    if (!IDENTIFIER.test(v.name)) throw new Error(`pyLiteral: ${where} names '${v.name}', not a Python identifier`);
    return v.name;
  }
  if (v instanceof PyFloatLiteral) {
    const text = scalar(v.value, where);
    return /[.e]/.test(text) ? text : `${text}.0`;
  }
  if (v instanceof PyTupleLiteral) return items(v.items, '(', ')', true);
  if (Array.isArray(v)) return items(v, '[', ']', false);
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    for (const [k] of entries) if (!IDENTIFIER.test(k)) throw new Error(`pyLiteral: key '${k}' of ${where} is not a Python identifier`);
    if (entries.length === 0) return 'dict()';
    const parts = entries.map(([k, x]) => `${k}=${pyLiteral(x, indent + 4, `${where}.${k}`)}`);
    const flat = `dict(${parts.join(', ')})`;
    if (!flat.includes('\n') && flat.length + indent <= 88) return flat;
    return `dict(\n${parts.map((p) => pad + p).join(',\n')},\n${close})`;
  }
  return scalar(v, where);
}

/** `name = literal` lines, one assignment per entry, in order. */
export function pyAssignments(values: Record<string, unknown>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      if (!IDENTIFIER.test(k)) throw new Error(`pyAssignments: '${k}' is not a Python identifier`);
      return `${k} = ${pyLiteral(v, 0, k)}`;
    })
    .join('\n');
}
