// Hard links across copy-up. A lower file with several names is one inode;
// when one name is copied up, the others must keep sharing it (data, inode
// number, link count), as the kernel's index=on does. The first copy is
// also linked into an index directory (in workdir) under the lower inode's
// (dev, ino), so later copy-ups of other names link to it instead of
// copying, lower-only names are served by it, and this holds after a remount.
import fs from 'node:fs';
import path from 'node:path';

interface Entry {
  /** The index link (or the first upper name when there is no index dir). */
  path: string;
  /** Lower names of this inode not yet copied up or deleted (unknown after a remount until seen). */
  remaining: number | undefined;
  indexed: boolean;
}

/** The identity and link count of a host file (fs.Stats, BigIntStats or a stat array's fields). */
export interface InodeStat {
  dev: number | bigint;
  ino: number | bigint;
  nlink: number | bigint;
}

const key = (dev: bigint | number | string, ino: bigint | number | string) => `${dev}:${ino}`;

export class HardLinks {
  private readonly byLower = new Map<string, Entry>();
  /** Upper copy (dev:ino) -> its lower inode key. */
  private readonly byUpper = new Map<string, string>();

  constructor(private readonly indexDir?: string) {
    if (!indexDir) return;
    fs.mkdirSync(indexDir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(indexDir)) {
      const m = /^(\d+)-(\d+)$/.exec(name);
      const p = path.join(indexDir, name);
      if (!m) continue;
      const st = fs.lstatSync(p, { bigint: true });
      if (st.nlink <= 1n) {
        fs.rmSync(p, { force: true }); // every upper name is gone: nothing to share any more
        continue;
      }
      const lk = key(m[1]!, m[2]!);
      this.byLower.set(lk, { path: p, remaining: undefined, indexed: true });
      this.byUpper.set(key(st.dev, st.ino), lk);
    }
  }

  get size(): number {
    return this.byLower.size;
  }

  /** The host path of the upper copy of lower inode `st`, if one was made. */
  copyOf(st: InodeStat): string | undefined {
    const e = this.byLower.get(key(st.dev, st.ino));
    if (!e) return undefined;
    let up: fs.Stats;
    try {
      up = fs.lstatSync(e.path);
    } catch {
      return undefined;
    }
    // First sight after a remount: assume every upper name is a copied-up lower one.
    if (e.remaining === undefined) e.remaining = Math.max(0, Number(st.nlink) - (up.nlink - (e.indexed ? 1 : 0)));
    return e.path;
  }

  /** A name of multi-link lower inode `lowerSt` was copied up to `upperPath` (by copy or by link). */
  recordCopy(lowerSt: fs.BigIntStats, upperPath: string): void {
    const lk = key(lowerSt.dev, lowerSt.ino);
    const e = this.byLower.get(lk);
    if (e) {
      if (e.remaining !== undefined) e.remaining = Math.max(0, e.remaining - 1);
      return;
    }
    let p = upperPath;
    let indexed = false;
    if (this.indexDir) {
      p = path.join(this.indexDir, `${lowerSt.dev}-${lowerSt.ino}`);
      fs.rmSync(p, { force: true });
      fs.linkSync(upperPath, p);
      indexed = true;
    }
    const up = fs.lstatSync(p, { bigint: true });
    this.byLower.set(lk, { path: p, remaining: Number(lowerSt.nlink) - 1, indexed });
    this.byUpper.set(key(up.dev, up.ino), lk);
  }

  /** A lower-only name of inode `lowerSt` was deleted or renamed away. */
  lowerNameGone(lowerSt: InodeStat): void {
    const e = this.byLower.get(key(lowerSt.dev, lowerSt.ino));
    if (e && e.remaining !== undefined) e.remaining = Math.max(0, e.remaining - 1);
  }

  /** The merged link count of a file whose host stat is `st`, or undefined if it is not a shared copy. */
  nlink(st: InodeStat): number | undefined {
    const lk = this.byUpper.get(key(st.dev, st.ino));
    if (lk === undefined) return undefined;
    const e = this.byLower.get(lk)!;
    return Number(st.nlink) - (e.indexed ? 1 : 0) + (e.remaining ?? 0);
  }
}
