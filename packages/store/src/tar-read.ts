// Streaming tar reader: turns a byte stream into entries whose data is read
// chunk by chunk, so no entry (and no archive) is ever held in memory whole.
// The consumer must finish (or skip) an entry's body before asking for the
// next; that ordering is what gives backpressure for free.
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { BLOCK, badEntry, decodeBlock, decodePax, finishHeader, padding, type TarHeader } from './tar-header.ts';

export interface TarEntry {
  header: TarHeader;
  /** The entry's data (regular files only); must be consumed or skipped before the next entry. */
  body(): AsyncGenerator<Buffer>;
}

/** Pulls exact byte counts out of an async chunk iterator. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  constructor(private readonly src: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.done) {
      const r = await this.src.next();
      if (r.done) { this.done = true; break; }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      if (!b.length) continue;
      // Sources may reuse their buffers once the next chunk is pulled (see
      // readFileChunks), so what is still queued is copied first. It is
      // small in practice: the start of a header or padding split across chunks.
      for (let i = 0; i < this.chunks.length; i++) this.chunks[i] = Buffer.from(this.chunks[i]!);
      this.chunks.push(b);
      this.have += b.length;
    }
    return this.have >= n;
  }

  /** Exactly n bytes, or null at a clean or premature end (caller decides). */
  async take(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return null;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift(); else this.chunks[0] = first.subarray(n);
      this.have -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }

  /** Up to `max` bytes (at least 1), or null at end of input. Avoids copies. */
  async some(max: number): Promise<Buffer | null> {
    if (!(await this.fill(1))) return null;
    const first = this.chunks[0]!;
    if (first.length <= max) { this.chunks.shift(); this.have -= first.length; return first; }
    this.chunks[0] = first.subarray(max);
    this.have -= max;
    return first.subarray(0, max);
  }
}

/**
 * Reads the tar on `input` entry by entry. `file` names the archive in errors.
 * A truncated archive, a bad checksum or a malformed PAX record throws
 * InvalidInput naming the archive and the entry.
 */
/**
 * The bytes of `file` in CHUNK-sized views of a small ring of reused
 * buffers: an import of a large layer then allocates nothing per chunk, so
 * its memory stays flat instead of growing until the GC catches up. A chunk
 * is valid only until the consumer pulls the next one (readTar's queue
 * copies what it keeps; blob writes must be synchronous, see appendSync).
 */
export async function* readFileChunks(file: string): AsyncGenerator<Buffer> {
  const fd = fs.openSync(file, 'r');
  const ring = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  try {
    for (let i = 0; ; i ^= 1) {
      const n = fs.readSync(fd, ring[i]!, 0, CHUNK, null);
      if (n === 0) return;
      yield ring[i]!.subarray(0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export async function* readTar(input: Readable | AsyncIterable<Buffer>, file: string): AsyncGenerator<TarEntry> {
  const q = new ByteQueue((input as AsyncIterable<Buffer>)[Symbol.asyncIterator]());
  let pax: Map<string, Buffer> | null = null;
  let globalPax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let lastName: string | null = null;
  for (;;) {
    const block = await q.take(BLOCK);
    if (block === null) {
      // Archives that end without the two zero blocks are common enough (and
      // harmless) when the last entry is complete; but not mid-record.
      if (pax || longName || longLink) throw badEntry(file, lastName, 'archive ends inside an extended header');
      return;
    }
    let raw;
    try {
      raw = decodeBlock(block);
    } catch (err) {
      throw badEntry(file, lastName === null ? null : `after ${lastName}`, (err as Error).message);
    }
    if (raw === null) return; // end-of-archive marker
    const meta = raw.flag === 'x' || raw.flag === 'g' || raw.flag === 'L' || raw.flag === 'K';
    if (meta) {
      if (raw.size > 16 << 20) throw badEntry(file, raw.name, 'extended header too large');
      const data = await q.take(raw.size + padding(raw.size));
      if (data === null) throw badEntry(file, raw.name, 'truncated archive (extended header cut short)');
      const body = data.subarray(0, raw.size);
      try {
        if (raw.flag === 'x') pax = new Map([...(globalPax ?? []), ...decodePax(body)]);
        else if (raw.flag === 'g') globalPax = decodePax(body);
        else if (raw.flag === 'L') longName = body.toString('utf8').replace(/\0+$/, '');
        else longLink = body.toString('utf8').replace(/\0+$/, '');
      } catch (err) {
        throw badEntry(file, raw.name, (err as Error).message);
      }
      continue;
    }
    let header: TarHeader;
    try {
      header = finishHeader(raw, pax ?? globalPax, longName, longLink);
    } catch (err) {
      throw badEntry(file, longName ?? raw.name, (err as Error).message);
    }
    pax = null; longName = null; longLink = null;
    lastName = header.name;
    // Hard links and others may carry a size field but no data in practice;
    // only regular files' data follows the header.
    const dataSize = raw.flag === '0' || raw.flag === '\0' || raw.flag === '7' ? header.size : (raw.flag === '1' || raw.flag === '2' || raw.flag === '5' || raw.flag === '3' || raw.flag === '4' || raw.flag === '6' ? 0 : header.size);
    let consumed = false;
    const name = header.name;
    const body = async function* (): AsyncGenerator<Buffer> {
      if (consumed) return;
      consumed = true;
      let left = dataSize;
      while (left > 0) {
        const chunk = await q.some(Math.min(left, CHUNK));
        if (chunk === null) throw badEntry(file, name, `truncated archive (${left} bytes of data missing)`);
        left -= chunk.length;
        yield chunk;
      }
      const pad = padding(dataSize);
      if (pad && (await q.take(pad)) === null) throw badEntry(file, name, 'truncated archive (padding missing)');
    };
    yield { header, body };
    if (!consumed) for await (const _ of body()) { /* skip the unread data */ }
  }
}
