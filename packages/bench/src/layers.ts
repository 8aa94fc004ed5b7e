// Makes the lower layer contents the workloads read: big files of
// incompressible bytes, and trees of many small files spread over directories
// and layers. Made once per benchmark, outside any mount, and identical for
// every driver.
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes `bytes` of random data to `file` (real blocks, so cold reads hit the disk). */
export function makeBigFile(file: string, bytes: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const chunk = randomBytes(4 << 20);
  const fd = openSync(file, 'w', 0o644);
  try {
    for (let done = 0; done < bytes; done += chunk.length) {
      // Vary each chunk so no two blocks are the same (dedup-proof, compression-proof).
      chunk.writeUInt32LE(done / chunk.length, 0);
      writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done));
    }
  } finally {
    closeSync(fd);
  }
}

/** Where file `i` of a tree of `n` goes: dirs of ~100 files, two levels deep. */
export function treePath(i: number): string {
  const dir = Math.floor(i / 100);
  return path.join(`d${Math.floor(dir / 20)}`, `d${dir % 20}`, `f${i}`);
}

/**
 * Makes a tree of `n` small files under `sub` spread round-robin over
 * `layers` (top first); every layer holds the full directory skeleton, as
 * image layers do, so each directory must be merged from all of them.
 * Returns the relative paths of all files.
 */
export function makeTree(layers: string[], sub: string, n: number, fileBytes = 64): string[] {
  const content = Buffer.alloc(fileBytes, 'a');
  const files: string[] = [];
  const dirs = new Set<string>();
  for (let i = 0; i < n; i++) {
    const rel = path.join(sub, treePath(i));
    dirs.add(path.dirname(rel));
    files.push(rel);
  }
  for (const layer of layers) for (const d of dirs) mkdirSync(path.join(layer, d), { recursive: true });
  files.forEach((rel, i) => writeFileSync(path.join(layers[i % layers.length]!, rel), content));
  return files;
}
