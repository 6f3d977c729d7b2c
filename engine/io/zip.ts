/**
 * The zip container of torch.save (since PyTorch 1.6): stored entries under one top-level
 * folder, each record's data 64-byte aligned. Reading checks every offset and size against
 * the file before it is used; writing produces what torch's own writer produces (stored,
 * aligned by padding the local header's extra field), which torch.load and Python's
 * zipfile read. Zip64 records (torch writes them always) are read, sizes and offsets from
 * the zip64 extra field where the 32-bit ones say 0xffffffff.
 */
import { inflateRawSync } from 'node:zlib';
import { FileFormatError } from './format.ts';

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const ZIP64_END = 0x06064b50;

/** A 64-bit size or offset as a number (anything past 2^53 is corrupt in a file that fits in memory). */
const safeNumber = (v: bigint) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v));

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether bytes start like a zip archive (a local file header). */
export const isZip = (bytes: Uint8Array): boolean => bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

/** The records of a zip archive by name, in central-directory order. */
export function readZip(bytes: Uint8Array, source: string): Map<string, Uint8Array> {
  const bad = (what: string) => new FileFormatError(`${source}: ${what}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // the end record sits in the last 22 + 65535 (comment) bytes
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--)
    if (dv.getUint32(at, true) === END) {
      end = at;
      break;
    }
  if (end < 0) throw bad('corrupt zip archive: no end-of-central-directory record (truncated?)');
  let count = dv.getUint16(end + 10, true);
  let dirSize = dv.getUint32(end + 12, true);
  let dirStart = dv.getUint32(end + 16, true);
  let dirEnd = end;
  if (end >= 20 && dv.getUint32(end - 20, true) === ZIP64_END_LOCATOR) {
    const at64 = safeNumber(dv.getBigUint64(end - 12, true));
    if (at64 + 56 > end - 20 || dv.getUint32(at64, true) !== ZIP64_END) throw bad('corrupt zip archive: its zip64 end record is missing');
    count = safeNumber(dv.getBigUint64(at64 + 32, true));
    dirSize = safeNumber(dv.getBigUint64(at64 + 40, true));
    dirStart = safeNumber(dv.getBigUint64(at64 + 48, true));
    dirEnd = at64;
  }
  if (dirStart + dirSize > dirEnd)
    throw bad(`corrupt zip archive: the central directory (${dirSize} bytes at ${dirStart}) runs past its end record at ${dirEnd}`);
  // each entry takes at least 46 bytes: a count the directory cannot hold is corrupt
  if (count * 46 > dirSize) throw bad(`corrupt zip archive: ${count} entries cannot fit in a ${dirSize}-byte central directory`);
  const out = new Map<string, Uint8Array>();
  let at = dirStart;
  for (let k = 0; k < count; k++) {
    if (at + 46 > dirEnd || dv.getUint32(at, true) !== CENTRAL)
      throw bad(`corrupt zip archive: central directory entry ${k} of ${count} is missing or damaged`);
    const method = dv.getUint16(at + 10, true);
    const crc = dv.getUint32(at + 16, true);
    let size = dv.getUint32(at + 20, true);
    let plain = dv.getUint32(at + 24, true);
    const nameLen = dv.getUint16(at + 28, true);
    const extraLen = dv.getUint16(at + 30, true);
    const commentLen = dv.getUint16(at + 32, true);
    let local = dv.getUint32(at + 42, true);
    if (at + 46 + nameLen + extraLen > dirEnd) throw bad(`corrupt zip archive: entry ${k}'s name runs past the central directory`);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    // zip64 extra field (id 1): the 64-bit values of those 32-bit fields that are 0xffffffff, in this order
    for (let x = at + 46 + nameLen; x + 4 <= at + 46 + nameLen + extraLen; ) {
      const id = dv.getUint16(x, true);
      const len = dv.getUint16(x + 2, true);
      if (id === 1) {
        let y = x + 4;
        const next = () => {
          if (y + 8 > x + 4 + len) throw bad(`corrupt zip archive: entry '${name}' has a short zip64 field`);
          y += 8;
          return safeNumber(dv.getBigUint64(y - 8, true));
        };
        if (plain === 0xffffffff) plain = next();
        if (size === 0xffffffff) size = next();
        if (local === 0xffffffff) local = next();
      }
      x += 4 + len;
    }
    at += 46 + nameLen + extraLen + commentLen;
    if (out.has(name)) throw bad(`corrupt zip archive: record '${name}' appears twice`);
    if (local + 30 > bytes.length || dv.getUint32(local, true) !== LOCAL)
      throw bad(`corrupt zip archive: record '${name}' has no local header at byte ${local}`);
    const dataStart = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (dataStart + size > bytes.length)
      throw bad(`record '${name}': ${size} bytes at ${dataStart} run past the end of the ${bytes.length}-byte file (truncated)`);
    const raw = bytes.subarray(dataStart, dataStart + size);
    let data: Uint8Array;
    if (method === 0) {
      if (plain !== size) throw bad(`corrupt zip archive: stored record '${name}' has sizes ${size} and ${plain}`);
      data = raw;
    } else if (method === 8) {
      // deflate's largest expansion is 1032:1; a larger declared size is corrupt
      if (plain > 1032 * size + 64) throw bad(`corrupt zip archive: record '${name}' declares ${plain} bytes from ${size} compressed`);
      try {
        data = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(plain, 1) }));
      } catch (e) {
        throw bad(`corrupt zip archive: record '${name}' does not inflate (${(e as Error).message})`);
      }
      if (data.length !== plain) throw bad(`corrupt zip archive: record '${name}' inflates to ${data.length} bytes, its header says ${plain}`);
    } else throw bad(`record '${name}' uses zip compression method ${method} (supported: 0 stored, 8 deflate)`);
    if (crc32(data) !== crc) throw bad(`record '${name}': CRC mismatch (corrupt)`);
    out.set(name, data);
  }
  return out;
}

/** A zip archive of stored records, each record's data starting on a multiple of `align` bytes. */
export function writeZip(records: readonly [string, Uint8Array][], align = 64): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of records) {
    const nameBytes = enc.encode(name);
    const crc = crc32(data);
    // torch's writer pads the extra field so the data is aligned (a 'FB' block of filler)
    let pad = (align - ((offset + 30 + nameBytes.length) % align)) % align;
    if (pad > 0 && pad < 4) pad += align;
    const header = new Uint8Array(30 + nameBytes.length + pad);
    const h = new DataView(header.buffer);
    h.setUint32(0, LOCAL, true);
    h.setUint16(4, 20, true); // version needed
    h.setUint16(8, 0, true); // stored
    h.setUint32(14, crc, true);
    h.setUint32(18, data.length, true);
    h.setUint32(22, data.length, true);
    h.setUint16(26, nameBytes.length, true);
    h.setUint16(28, pad, true);
    header.set(nameBytes, 30);
    if (pad > 0) {
      h.setUint16(30 + nameBytes.length, 0x4246, true); // 'FB'
      h.setUint16(32 + nameBytes.length, pad - 4, true);
      header.fill(0x5a, 34 + nameBytes.length); // 'Z' filler, as torch writes
    }
    const entry = new Uint8Array(46 + nameBytes.length);
    const c = new DataView(entry.buffer);
    c.setUint32(0, CENTRAL, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true);
    c.setUint16(28, nameBytes.length, true);
    c.setUint32(42, offset, true);
    entry.set(nameBytes, 46);
    parts.push(header, data);
    central.push(entry);
    offset += header.length + data.length;
  }
  const dirSize = central.reduce((a, e) => a + e.length, 0);
  const endRecord = new Uint8Array(22);
  const e = new DataView(endRecord.buffer);
  e.setUint32(0, END, true);
  e.setUint16(8, records.length, true);
  e.setUint16(10, records.length, true);
  e.setUint32(12, dirSize, true);
  e.setUint32(16, offset, true);
  return concatBytes([...parts, ...central, endRecord]);
}

/** The byte arrays one after another in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
