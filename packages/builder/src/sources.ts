// COPY/ADD source selection and the checksum the cache key uses. A source
// is a path or a wildcard pattern (`*`, `?`, `[..]` within one component)
// inside the context or an image; a symlink named as a source (or matched by
// a wildcard) is followed inside the root; a directory means its contents.
// Excluded (.dockerignore) and missing sources are errors naming the source,
// and `..` cannot leave the root (the path is clamped to it, as in Docker).
import fs from 'node:fs';
import path from 'node:path';
import { NotFound, newHash, type Digest } from '@strata/common';
import type { FileSums } from './file-sums.ts';
import { hasWildcard, matchComponent } from './dockerignore.ts';
import { components, type Found, type SourceView } from './rootfs-view.ts';

/** One selected source: the name it was selected under and the entry after following symlinks. */
export interface Selected {
  /** In-root path as matched (its basename names a copied file). */
  path: string;
  /** In-root path after following symlinks. */
  resolved: string;
  found: Found;
}

async function expandPattern(view: SourceView, pattern: string): Promise<string[]> {
  const comps = components(pattern);
  let cur: string[] = ['/'];
  for (const c of comps) {
    const next: string[] = [];
    for (const dir of cur) {
      if (hasWildcard(c)) {
        for (const n of await view.readdir(dir)) {
          const p = path.posix.join(dir, n);
          if (matchComponent(c, n) && !view.isExcluded(p)) next.push(p);
        }
      } else {
        next.push(path.posix.join(dir, c));
      }
    }
    cur = next;
  }
  const out: string[] = [];
  for (const p of cur) if (await view.lstat(p)) out.push(p);
  return out;
}

/**
 * Selects the sources named by `patterns`. `what` names the instruction
 * ("Dockerfile:3: COPY") and `where` the source ("build context", "stage a").
 */
export async function selectSources(view: SourceView, patterns: readonly string[], what: string, where: string): Promise<Selected[]> {
  const out: Selected[] = [];
  for (const pat of patterns) {
    const clean = '/' + components(pat).filter((c) => c !== '..').join('/');
    const paths = hasWildcard(pat) ? await expandPattern(view, clean) : [clean];
    for (const p of paths) {
      if (!hasWildcard(pat)) {
        const f = await view.lstat(p);
        if (!f) {
          if (view.isExcluded(p) && (await view.lstatRaw(p))) {
            throw new NotFound(`${what}: ${pat}: not found: excluded by .dockerignore from the ${where}`);
          }
          throw new NotFound(`${what}: ${pat}: no such file or directory in the ${where}`);
        }
      }
      const resolved = await view.resolve(p, true);
      const found = await view.lstat(resolved);
      if (!found) throw new NotFound(`${what}: ${pat}: symlink ${p} points to ${resolved}, which is not found in the ${where}`);
      out.push({ path: p, resolved, found });
    }
  }
  if (out.length === 0) {
    throw new NotFound(`${what}: no source files were specified: ${patterns.join(' ')} matched nothing in the ${where}`);
  }
  return out;
}

/** Walks a directory source depth-first, calling `visit` with in-root paths (children only). */
export async function walk(view: SourceView, dir: string, visit: (p: string, f: Found, excluded: boolean) => Promise<boolean | void>): Promise<void> {
  for (const n of await view.readdir(dir)) {
    const p = path.posix.join(dir, n);
    const excluded = view.isExcluded(p);
    const f = excluded ? await view.lstatRaw(p) : await view.lstat(p);
    if (!f) continue;
    const descend = await visit(p, f, excluded);
    if (f.stat.isDirectory() && descend !== false) await walk(view, p, visit);
  }
}


/**
 * The cache checksum of the selected sources: for every entry copied, its
 * path relative to the source, type, mode, uid/gid, content hash and link
 * target. mtimes are left out on purpose: touching a file changes nothing.
 * File contents are hashed through `sums` (unchanged files are not re-read).
 */
export async function checksumSources(view: SourceView, selected: readonly Selected[], sums: FileSums): Promise<Digest> {
  const h = newHash();
  // Hardlinked sources are copied as hardlinks: the grouping is part of the result.
  const inodes = new Map<string, string>();
  const entry = async (rel: string, f: Found): Promise<void> => {
    const st = f.stat;
    let extra = '';
    const ino = `${st.dev}:${st.ino}`;
    if (st.nlink > 1 && !st.isDirectory() && inodes.has(ino)) extra = `link ${inodes.get(ino)}`;
    else if (st.isFile()) extra = await sums.hash(f.hostPath, st);
    else if (st.isSymbolicLink()) extra = fs.readlinkSync(f.hostPath);
    else if (st.isCharacterDevice() || st.isBlockDevice()) extra = String(st.rdev);
    if (st.nlink > 1 && !st.isDirectory() && !inodes.has(ino)) inodes.set(ino, rel);
    h.update(`${JSON.stringify([rel, st.mode, st.uid, st.gid, st.size, extra])}\n`);
  };
  for (const s of selected) {
    h.update(`source ${s.path} -> ${s.resolved}\n`);
    await entry(s.path, s.found);
    if (s.found.stat.isDirectory()) {
      await walk(view, s.resolved, async (p, f, excluded) => {
        await entry(path.posix.join(s.path, path.posix.relative(s.resolved, p)) + (excluded ? ' (excluded)' : ''), f);
      });
    }
  }
  return `sha256:${h.digest('hex')}`;
}
