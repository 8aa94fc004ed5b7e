// Where a run's trees go instead of being deleted. On ext4 without a
// journal (this machine's root file system), allocating an inode skips every
// free inode whose inode-table block is cached and that was freed in the
// last 5 s (300 s once the block is dirty again), re-checking them all on
// each allocation (recently_deleted() in ext4's find_inode_bit). Deleting one
// run's 10k files just before the next run creates 10k files made that run
// pay for the previous one: perf showed 60-70% of a create in
// recently_deleted(), strata's creates measured 2.4-3.7 s one after another
// in the same place against 1.9 s in a fresh one. Dropping caches first did
// not cure it (the first allocation in a block reads it back in). So trees
// with many inodes are parked here during the benchmark and deleted once at
// its end (with the data dir); big files, a handful of inodes but
// gigabytes, are deleted at once.
import { lstatSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

const BIG = 1 << 20;

export class Graveyard {
  private next = 0;

  constructor(readonly dir: string) {}

  /** Moves `dir` (if it exists) out of the way, freeing its big files now. */
  async park(dir: string): Promise<void> {
    try {
      lstatSync(dir);
    } catch {
      return;
    }
    dropBigFiles(dir);
    await mkdir(this.dir, { recursive: true });
    renameSync(dir, path.join(this.dir, String(this.next++)));
  }
}

function dropBigFiles(root: string): void {
  const todo = [root];
  while (todo.length > 0) {
    const dir = todo.pop()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue; // a mountpoint left behind, or unreadable: the final rm deals with it
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) todo.push(p);
      else if (e.isFile() && lstatSync(p).size >= BIG) unlinkSync(p);
    }
  }
}
