// The tar header codec strata reads and writes layers with: ustar headers,
// PAX extended records (path, linkpath, size, uid/gid, mtime with
// nanoseconds, SCHILY.xattr.*) and GNU long names. PAX values are kept as
// raw bytes because xattr values such as security.capability are binary;
// a UTF-8 round trip (what general-purpose tar libraries do) corrupts them.
import { InvalidInput } from '@strata/common';

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One tar entry's metadata, after PAX and GNU long-name records are applied. */
export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtimeSec: number;
  /** Nanoseconds part of mtime (from PAX; 0 for plain ustar). */
  mtimeNsec: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from SCHILY.xattr.* records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

export const BLOCK = 512;

const TYPE_OF_FLAG: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
const FLAG_OF_TYPE: Record<EntryType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

function cstr(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function octal(buf: Buffer, off: number, len: number): number {
  // GNU base-256 for values that do not fit in octal.
  if (buf[off]! & 0x80) {
    let v = buf[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
    return v;
  }
  const s = cstr(buf, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad octal field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : buf[i]!;
  return sum;
}

/** A raw header block: the kind of record and its fields before PAX is applied. */
export interface RawHeader {
  flag: string;
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** Decodes one 512-byte block; null for an all-zero block (end of archive). Throws on a bad checksum. */
export function decodeBlock(buf: Buffer): RawHeader | null {
  let zero = true;
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) { zero = false; break; }
  if (zero) return null;
  let stored = -1;
  try { stored = octal(buf, 148, 8); } catch { /* reported as a bad checksum below */ }
  if (stored !== checksum(buf)) throw new Error('bad header checksum (not a tar, or corrupt)');
  let name = cstr(buf, 0, 100);
  const magic = buf.toString('latin1', 257, 263);
  if (magic === 'ustar\0') {
    const prefix = cstr(buf, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    flag: String.fromCharCode(buf[156]!),
    name,
    mode: octal(buf, 100, 8),
    uid: octal(buf, 108, 8),
    gid: octal(buf, 116, 8),
    size: octal(buf, 124, 12),
    mtime: octal(buf, 136, 12),
    linkname: cstr(buf, 157, 100),
    devmajor: octal(buf, 329, 8),
    devminor: octal(buf, 337, 8),
  };
}

/** Parses PAX records ("LEN key=value\n"), values as raw bytes. */
export function decodePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp === -1) break;
    const len = parseInt(buf.toString('latin1', off, sp), 10);
    if (!(len > 0) || off + len > buf.length) throw new Error('bad PAX record length');
    const rec = buf.subarray(sp + 1, off + len - 1); // drop trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw new Error('bad PAX record');
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/** Applies PAX records (and GNU long names) to a raw header, giving the entry's header. */
export function finishHeader(raw: RawHeader, pax: Map<string, Buffer> | null, longName: string | null, longLink: string | null): TarHeader {
  const type = TYPE_OF_FLAG[raw.flag];
  if (!type) throw new Error(`unsupported entry type '${raw.flag}'`);
  const h: TarHeader = {
    name: longName ?? raw.name,
    type: raw.flag === '0' || raw.flag === '\0' || raw.flag === '7' ? (raw.name.endsWith('/') && raw.size === 0 && !longName ? 'dir' : 'file') : type,
    mode: raw.mode & 0o7777,
    uid: raw.uid,
    gid: raw.gid,
    size: type === 'file' ? raw.size : 0,
    mtimeSec: raw.mtime,
    mtimeNsec: 0,
    linkname: longLink ?? raw.linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: new Map(),
  };
  if (pax) {
    for (const [k, v] of pax) {
      const s = () => v.toString('utf8');
      if (k === 'path') h.name = s();
      else if (k === 'linkpath') h.linkname = s();
      else if (k === 'size') h.size = Number(s());
      else if (k === 'uid') h.uid = Number(s());
      else if (k === 'gid') h.gid = Number(s());
      else if (k === 'mtime') {
        const [sec, frac = ''] = s().split('.');
        h.mtimeSec = Number(sec);
        h.mtimeNsec = Number((frac + '000000000').slice(0, 9));
        if (s().startsWith('-') && h.mtimeNsec) { h.mtimeSec -= 1; h.mtimeNsec = 1e9 - h.mtimeNsec; }
      } else if (k.startsWith('SCHILY.xattr.')) h.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    }
    if (!Number.isSafeInteger(h.size) || h.size < 0) throw new Error('bad PAX size');
  }
  return h;
}

function writeOctal(buf: Buffer, off: number, len: number, v: number): boolean {
  const s = v.toString(8);
  if (s.length > len - 1) return false;
  buf.write(s.padStart(len - 1, '0') + '\0', off, 'latin1');
  return true;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function ustarBlock(name: string, flag: string, h: { mode: number; uid: number; gid: number; size: number; mtimeSec: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(name, 0, 100, 'utf8');
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid);
  writeOctal(buf, 116, 8, h.gid);
  writeOctal(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, Math.max(0, h.mtimeSec));
  buf.write(flag, 156, 1, 'latin1');
  buf.write(h.linkname, 157, 100, 'utf8');
  buf.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(buf, 329, 8, h.devmajor);
  writeOctal(buf, 337, 8, h.devminor);
  buf.write('        ', 148, 8, 'latin1');
  writeOctal(buf, 148, 7, checksum(buf));
  buf[155] = 0x20;
  return buf;
}

/** Bytes of padding after `size` bytes of data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Encodes an entry's header: one ustar block, preceded by a PAX header when
 * a field does not fit ustar (long names, big ids/sizes), the mtime has
 * nanoseconds, or there are xattrs. Deterministic: same header, same bytes
 * (uname/gname are left empty, no atime/ctime).
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? h.name + '/' : h.name;
  const pax: Array<[string, Buffer]> = [];
  const nameBytes = Buffer.byteLength(name);
  if (nameBytes > 100 || /[^\x20-\x7e]/.test(name)) pax.push(['path', Buffer.from(name)]);
  if (Buffer.byteLength(h.linkname) > 100 || /[^\x20-\x7e]/.test(h.linkname)) pax.push(['linkpath', Buffer.from(h.linkname)]);
  if (h.uid > 0o7777777) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > 0o7777777) pax.push(['gid', Buffer.from(String(h.gid))]);
  if (h.size > 0o77777777777) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.mtimeNsec !== 0 || h.mtimeSec < 0 || h.mtimeSec > 0o77777777777) {
    pax.push(['mtime', Buffer.from(`${h.mtimeSec}.${String(h.mtimeNsec).padStart(9, '0')}`)]);
  }
  for (const [k, v] of [...h.xattrs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) pax.push([`SCHILY.xattr.${k}`, v]);
  const short = {
    mode: h.mode, uid: h.uid > 0o7777777 ? 0 : h.uid, gid: h.gid > 0o7777777 ? 0 : h.gid,
    size: h.size > 0o77777777777 ? 0 : h.size, mtimeSec: Math.min(Math.max(0, h.mtimeSec), 0o77777777777),
    linkname: h.linkname.length > 100 ? h.linkname.slice(0, 100) : h.linkname, devmajor: h.devmajor, devminor: h.devminor,
  };
  const asciiName = name.replace(/[^\x20-\x7e]/g, '_');
  const main = ustarBlock(asciiName.length > 100 ? asciiName.slice(-100) : asciiName, FLAG_OF_TYPE[h.type], short);
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const paxName = `PaxHeaders/${asciiName.slice(-80)}`;
  const paxHead = ustarBlock(paxName, 'x', { ...short, size: body.length, linkname: '' });
  return Buffer.concat([paxHead, body, Buffer.alloc(padding(body.length)), main]);
}

/** Throws InvalidInput naming the archive and entry. */
export function badEntry(file: string, entry: string | null, why: string): InvalidInput {
  return new InvalidInput(`${file}${entry === null ? '' : `: entry ${JSON.stringify(entry)}`}: ${why}`);
}
