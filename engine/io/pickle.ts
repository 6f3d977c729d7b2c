/**
 * A restricted pickle reader and a minimal writer: the subset torch.save uses for
 * state_dicts and checkpoint wrappers (protocols 2–5).
 *
 * Reading never calls anything. A GLOBAL names either one of the few constructors a
 * state_dict needs (OrderedDict, torch's tensor rebuild functions, storage types, torch.Size,
 * _codecs.encode for bytes) or becomes an inert PyOpaque marker; REDUCE/NEWOBJ/BUILD of a
 * marker give another marker, so an arbitrary class or function in the file is reported by
 * name by the caller — never imported, never executed.
 */
import { FileFormatError } from './format.ts';

/** A Python tuple (kept apart from lists so a writer can reproduce it). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** An object of a class this reader does not build: its module and name, inert. */
export class PyOpaque {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A torch storage referenced by a persistent id: its dtype name, record key and element count. */
export interface PyStorage {
  kind: 'storage';
  storageType: string;
  key: string;
  location: string;
  numel: number;
}

/** A tensor's rebuild arguments (the caller reads the storage bytes). */
export interface PyTensorRef {
  kind: 'tensor';
  storage: PyStorage;
  offset: number;
  size: number[];
  stride: number[];
  requiresGrad: boolean;
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | Map<PyValue, PyValue>
  | PyOpaque
  | PyStorage
  | PyTensorRef
  | StorageTypeMarker
  | Callable;

interface StorageTypeMarker {
  kind: 'storage-type';
  name: string;
}
interface Callable {
  kind: 'callable';
  name: string;
}

const MARK = Symbol('mark');
const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch.Size',
  '_codecs.encode',
  'builtins.set',
  'builtins.frozenset',
]);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const intTuple = (v: unknown): number[] | null => (v instanceof PyTuple && v.items.every(isInt) ? (v.items as number[]) : null);

/**
 * Unpickles `bytes`. `persistentLoad` resolves BINPERSID ids (torch's storages). Every
 * malformed input is a FileFormatError naming `source` and the byte offset.
 */
export function unpickle(bytes: Uint8Array, source: string): PyValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  let at = 0;
  const bad = (what: string) => new FileFormatError(`${source}: corrupt pickle at byte ${at}: ${what}`);
  const need = (n: number) => {
    if (at + n > bytes.length) throw bad(`needs ${n} more bytes, ${bytes.length - at} left (truncated)`);
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), (at += 2), dv.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), dv.getUint32(at - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(bytes.length)) throw bad(`a length of ${v} bytes, more than the whole pickle`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (at += n), bytes.subarray(at - n, at));
  const text = (n: number) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(take(n));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw bad('a string that is not UTF-8');
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw bad('a GLOBAL without its newline');
    const s = new TextDecoder().decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) throw bad('pops an empty stack');
    if (v === MARK) throw bad('pops a mark');
    return v;
  };
  const popMark = (): PyValue[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) throw bad('no mark to pop to');
    const items = stack.splice(k) as PyValue[];
    items.shift();
    return items;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw bad('needs a value on the stack');
    return v;
  };
  const global = (module: string, name: string): PyValue => {
    const q = `${module}.${name}`;
    // a torch storage type only names a dtype (pth.ts knows which); it is never instantiated
    if (module === 'torch' && /^[A-Za-z0-9]+Storage$/.test(name)) return { kind: 'storage-type', name };
    if (CALLABLES.has(q)) return { kind: 'callable', name: q };
    return new PyOpaque(module, name);
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (fn instanceof PyOpaque) return new PyOpaque(fn.module, fn.name);
    if (!(args instanceof PyTuple)) throw bad(`REDUCE arguments must be a tuple, got ${describe(args)}`);
    const a = args.items;
    if (typeof fn !== 'object' || fn === null || !('kind' in fn) || fn.kind !== 'callable') throw bad(`REDUCE of ${describe(fn)}, which is not callable`);
    switch (fn.name) {
      case 'collections.OrderedDict': {
        const m = new Map<PyValue, PyValue>();
        if (a.length === 1 && Array.isArray(a[0]))
          for (const pair of a[0]) {
            if (!(pair instanceof PyTuple) || pair.items.length !== 2) throw bad('OrderedDict items must be (key, value) pairs');
            m.set(pair.items[0], pair.items[1]);
          }
        else if (a.length !== 0) throw bad(`OrderedDict(${a.length} arguments)`);
        return m;
      }
      case 'torch.Size': {
        if (a.length !== 1 || !intTuple(a[0])) throw bad('torch.Size expects one tuple of integers');
        return a[0];
      }
      case '_codecs.encode': {
        if (typeof a[0] !== 'string') throw bad('_codecs.encode expects a string');
        return Uint8Array.from(a[0], (c) => c.charCodeAt(0) & 0xff);
      }
      case 'builtins.set':
      case 'builtins.frozenset':
        return Array.isArray(a[0]) ? a[0] : [];
      case 'torch._utils._rebuild_parameter': {
        if (a.length < 2 || !isTensor(a[0])) throw bad('_rebuild_parameter expects (tensor, requires_grad, hooks)');
        return { ...(a[0] as PyTensorRef), requiresGrad: a[1] === true };
      }
      default: {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]); _rebuild_tensor: the first four
        const [storage, offset, size, stride, requiresGrad] = a;
        if (!isStorage(storage)) throw bad(`${fn.name}: the first argument must be a storage, got ${describe(storage)}`);
        const sz = intTuple(size);
        const st = intTuple(stride);
        if (!isInt(offset) || offset < 0 || !sz || !st || sz.length !== st.length || sz.some((d) => d < 0) || st.some((d) => d < 0))
          throw bad(`${fn.name}: offset, size and stride must be integers ≥ 0 (size and stride of one length)`);
        return { kind: 'tensor', storage, offset, size: sz, stride: st, requiresGrad: requiresGrad === true };
      }
    }
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!(target instanceof Map)) {
      if (target instanceof PyOpaque) return; // an opaque object's items stay unread
      throw bad(`SETITEMS on ${describe(target)}, not a dict`);
    }
    if (items.length % 2) throw bad('SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) target.set(hashable(items[i]), items[i + 1]);
  };
  const hashable = (k: PyValue): PyValue => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') return k;
    if (k instanceof PyTuple) return JSON.stringify(k.items, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
    throw bad(`a dict key of type ${describe(k)}`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const p = u8();
        if (p < 2 || p > 5) throw bad(`pickle protocol ${p} (supported: 2–5)`);
        break;
      }
      case 0x95:
        u64();
        break; // FRAME: its length is only a hint
      case 0x2e: {
        // STOP
        const v = pop();
        if (stack.length) throw bad(`${stack.length} values left on the stack at STOP`);
        return v;
      }
      case 0x28:
        stack.push(MARK);
        break;
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x8f:
        stack.push([]);
        break; // EMPTY_SET (as a list)
      case 0x74:
        stack.push(new PyTuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x91:
        stack.push(popMark());
        break; // FROZENSET (as a list)
      case 0x64: {
        const m = new Map<PyValue, PyValue>();
        setItems(m, popMark());
        stack.push(m);
        break;
      } // DICT
      case 0x61: {
        const v = pop();
        const l = top();
        if (Array.isArray(l)) l.push(v);
        else if (!(l instanceof PyOpaque)) throw bad('APPEND to a non-list');
        break;
      }
      case 0x65:
      case 0x90: {
        const items = popMark();
        const l = top();
        if (Array.isArray(l)) l.push(...items);
        else if (!(l instanceof PyOpaque)) throw bad('APPENDS to a non-list');
        break;
      } // APPENDS, ADDITEMS
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x4a:
        need(4);
        stack.push(dv.getInt32(at, true));
        at += 4;
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
      case 0x8b: {
        // LONG1, LONG4
        const n = op === 0x8a ? u8() : u32();
        if (n > 64) throw bad(`an integer of ${n} bytes`);
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47:
        need(8);
        stack.push(dv.getFloat64(at, false));
        at += 8;
        break; // BINFLOAT (big-endian)
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x58:
        stack.push(text(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(text(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(text(u64()));
        break; // BINUNICODE8
      case 0x55:
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break; // SHORT_BINSTRING
      case 0x54:
        stack.push(new TextDecoder('latin1').decode(take(u32())));
        break; // BINSTRING
      case 0x43:
        stack.push(take(u8()).slice());
        break; // SHORT_BINBYTES
      case 0x42:
        stack.push(take(u32()).slice());
        break; // BINBYTES
      case 0x8e:
        stack.push(take(u64()).slice());
        break; // BINBYTES8
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw bad(`memo ${k} was never stored`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x63: {
        const module = line();
        stack.push(global(module, line()));
        break;
      } // GLOBAL
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop();
        const cls = pop();
        stack.push(cls instanceof PyOpaque ? new PyOpaque(cls.module, cls.name) : call(cls, args));
        break;
      } // NEWOBJ
      case 0x92: {
        pop();
        const args = pop();
        const cls = pop();
        stack.push(cls instanceof PyOpaque ? new PyOpaque(cls.module, cls.name) : call(cls, args));
        break;
      } // NEWOBJ_EX
      case 0x62:
        pop();
        top();
        break; // BUILD: the state (e.g. an OrderedDict's _metadata) is not needed
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5)
          throw bad(`a persistent id that is not a torch storage: ${describe(pid)}`);
        const [, type, key, location, numel] = pid.items;
        if (typeof type !== 'object' || type === null || !('kind' in type) || type.kind !== 'storage-type')
          throw bad(`a storage id whose type is ${describe(type)}, not a torch storage type`);
        if (typeof key !== 'string' || typeof location !== 'string' || !isInt(numel) || numel < 0)
          throw bad('a storage id must be (storage, type, key, location, numel)');
        stack.push({ kind: 'storage', storageType: type.name, key, location, numel });
        break;
      }
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      default:
        throw bad(`opcode 0x${op.toString(16).padStart(2, '0')} is not one a state_dict uses (supported: protocol 2–5 data opcodes)`);
    }
  }
}

export const isTensor = (v: unknown): v is PyTensorRef => typeof v === 'object' && v !== null && (v as PyTensorRef).kind === 'tensor';
const isStorage = (v: unknown): v is PyStorage => typeof v === 'object' && v !== null && (v as PyStorage).kind === 'storage';

/** A value's kind for messages. */
export function describe(v: PyValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (v instanceof PyOpaque) return `an object of ${v.qualifiedName}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'object' && 'kind' in v) return v.kind === 'callable' ? `the function ${v.name}` : `a ${v.kind}`;
  return typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
}

// ------------------------------------------------------------------ writing

/** Pickle protocol 2 writer with the memo torch's readers expect nothing of; `tensor` writes one tensor's REDUCE. */
export class Pickler {
  private parts: number[] = [0x80, 2];

  byte(...b: number[]): this {
    this.parts.push(...b);
    return this;
  }
  private u32(n: number) {
    this.parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.byte(0x58);
    this.u32(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 256) return this.byte(0x4b, n);
    if (typeof n === 'number' && Number.isInteger(n) && n >= -2147483648 && n < 2147483648) {
      this.byte(0x4a);
      this.u32(n >>> 0);
      return this;
    }
    // LONG1: little-endian two's complement
    let v = BigInt(n);
    const out: number[] = [];
    while (true) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
      if ((v === 0n && !(out[out.length - 1] & 0x80)) || (v === -1n && out[out.length - 1] & 0x80)) break;
    }
    return this.byte(0x8a, out.length, ...out);
  }
  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.byte(0x47, ...b);
  }
  global(module: string, name: string): this {
    for (const c of new TextEncoder().encode(`c${module}\n${name}\n`)) this.parts.push(c);
    return this;
  }
  /** A JSON-like value: null, booleans, numbers (integers as int), bigint, strings, arrays (lists), PyTuple, Map or plain objects (dicts). */
  value(v: unknown): this {
    if (v === null || v === undefined) return this.byte(0x4e);
    if (v === true) return this.byte(0x88);
    if (v === false) return this.byte(0x89);
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'number') return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyTuple) {
      this.byte(0x28);
      for (const x of v.items) this.value(x);
      return this.byte(0x74);
    }
    if (Array.isArray(v)) {
      this.byte(0x5d, 0x28);
      for (const x of v) this.value(x);
      return this.byte(0x65);
    }
    if (v instanceof Map || (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)) {
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
      this.byte(0x7d, 0x28);
      for (const [k, x] of entries) this.value(k).value(x);
      return this.byte(0x75);
    }
    throw new Error(`pickle: cannot write a value of type ${typeof v === 'object' ? (v as object).constructor?.name : typeof v}`);
  }
  bytes(): Uint8Array {
    return Uint8Array.from([...this.parts, 0x2e]);
  }
}
