// The one path sanitiser for everything that writes archive entries to disk
// (layer apply, import). An entry name is accepted only if it stays inside
// the target lexically; and writing never follows a symlink, because every
// parent directory of an entry is checked to be a real directory.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Normalises an archive entry name to a relative path inside the target
 * ('' for the root itself), or returns an error string: absolute names and
 * names with a `..` component that climbs out are refused, not rewritten.
 */
export function cleanEntryName(name: string): string | { error: string } {
  if (name.includes('\0')) return { error: 'name contains NUL' };
  if (name.startsWith('/')) return { error: 'absolute path refused' };
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      // Any `..` in a layer name is hostile or broken; even ones that stay
      // inside are refused so the name means the same thing to every tool.
      return { error: "'..' component refused" };
    }
    parts.push(p);
  }
  return parts.join('/');
}

/**
 * True if a symlink at `linkPath` (relative to the root) with target
 * `target` resolves, lexically, inside the root. Absolute targets are
 * interpreted inside the image root (as the container sees them), so they
 * always stay inside; relative ones must not climb above it.
 */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  let depth = linkPath.split('/').length - 1; // directories above the link
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      depth--;
      if (depth < 0) return false;
    } else depth++;
  }
  return true;
}

/**
 * Tracks which directories under a root are known to be real directories,
 * so parents are checked once, not per entry. `ensureParents` creates
 * missing parents (with `mode`) and throws a string reason when a parent is
 * a symlink or not a directory.
 */
export class SafeTree {
  private readonly dirs = new Set<string>(['']);
  constructor(readonly root: string) {}

  abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /** Forgets `rel` and everything under it (it was replaced or removed). */
  forget(rel: string): void {
    if (!this.dirs.has(rel)) return;
    const pre = rel + '/';
    for (const d of this.dirs) if (d === rel || d.startsWith(pre)) this.dirs.delete(d);
  }

  /** Records that `rel` is a real directory that strata made. */
  known(rel: string): void {
    this.dirs.add(rel);
  }

  /** Makes sure every parent of `rel` is a real directory inside the root. */
  ensureParents(rel: string, onCreate?: (dirRel: string) => void): void {
    const parent = path.posix.dirname(rel);
    if (parent === '.' || this.dirs.has(parent)) return;
    this.ensureParents(parent, onCreate);
    const abs = this.abs(parent);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) {
      fs.mkdirSync(abs, 0o755);
      onCreate?.(parent);
      this.dirs.add(parent);
      return;
    }
    if (st.isSymbolicLink()) throw new Error(`parent ${parent} is a symlink; refusing to write through it`);
    if (!st.isDirectory()) throw new Error(`parent ${parent} is not a directory`);
    this.dirs.add(parent);
  }
}
