/**
 * The error of a file that is not what it claims to be: truncated, corrupt, or another
 * format. Callers that also check a well-formed file against something (weights against a
 * model) let this one through unchanged, so "does not match" is kept for files that are
 * well formed but wrong.
 */
export class FileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileFormatError';
  }
}

/**
 * A short rendering of a (parsed JSON) value for messages: numbers as written (NaN and
 * Infinity as such, not as null), at most 3 levels and 8 entries per level, 60 characters.
 * Bounded, so a value nested arbitrarily deep cannot overflow the stack.
 */
export function describeValue(x: unknown, depth = 0): string {
  let s: string;
  if (x === undefined) s = 'undefined';
  else if (typeof x === 'number') s = String(x);
  else if (typeof x !== 'object' || x === null) s = JSON.stringify(x) ?? String(x);
  else if (depth >= 3) s = Array.isArray(x) ? '[…]' : '{…}';
  else if (Array.isArray(x))
    s = `[${x
      .slice(0, 8)
      .map((v) => describeValue(v, depth + 1))
      .join(', ')}${x.length > 8 ? ', …' : ''}]`;
  else
    s = `{${Object.entries(x)
      .slice(0, 8)
      .map(([k, v]) => `${JSON.stringify(k)}: ${describeValue(v, depth + 1)}`)
      .join(', ')}}`;
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
