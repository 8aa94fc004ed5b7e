// Content hashes of COPY/ADD source files, remembered across builds under the
// store (<root>/cache/file-sums.json) keyed by the file's identity and
// change stamps (dev, ino, size, mtime, ctime): a rebuild re-reads only the
// files that changed. The hash is still of the content: an unchanged file
// whose times moved is read again and hashes the same, so the cache key is
// decided by content alone. A file changed within the last few seconds is
// hashed but not remembered: file times are coarse, and a second write in
// the same tick would keep the same stamps (git's "racy" case).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { newHash } from '@strata/common';

/** How recent (ms) a change may be and still not be remembered (file times tick by a jiffy, at most 10 ms). */
const RACY_MS = 1000;
/** At most this many entries are kept (the most recently used). */
const MAX_ENTRIES = 50_000;

function stampOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

function hashFile(hostPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = newHash();
    fs.createReadStream(hostPath, { highWaterMark: 256 << 10 }).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/** The remembered file hashes of one store; load once per build, save at its end. */
export class FileSums {
  private readonly file: string;
  private entries: Map<string, string> | undefined;
  private readonly used = new Map<string, string>();
  private dirty = false;

  constructor(storeRoot: string) {
    this.file = path.join(storeRoot, 'cache', 'file-sums.json');
  }

  private load(): Map<string, string> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    try {
      const obj = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(obj)) if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) this.entries.set(k, v);
    } catch {
      // missing or damaged: start empty (it is only a cache)
    }
    return this.entries;
  }

  /** The sha256 (hex) of the content of the regular file at hostPath, whose lstat is `st`. */
  async hash(hostPath: string, st: fs.Stats): Promise<string> {
    const stamp = stampOf(st);
    const known = this.load().get(stamp);
    if (known !== undefined) {
      this.used.set(stamp, known);
      return known;
    }
    const sum = await hashFile(hostPath);
    // Remember only if the file did not change while read and its last change is not recent.
    const after = fs.lstatSync(hostPath, { throwIfNoEntry: false });
    if (after && stampOf(after) === stamp && Date.now() - Math.max(st.mtimeMs, st.ctimeMs) > RACY_MS) {
      this.used.set(stamp, sum);
      this.dirty = true;
    }
    return sum;
  }

  /** Writes the entries back (temp file + rename; concurrent builds: the last one wins, both are valid). */
  save(): void {
    if (!this.dirty) return;
    const out = new Map(this.used);
    for (const [k, v] of this.load()) {
      if (out.size >= MAX_ENTRIES) break;
      if (!out.has(k)) out.set(k, v);
    }
    const tmp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(out)));
      fs.renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }
}
