// A read-only merged view of layer directories (top first), with overlay2
// rules: a character device 0/0 is a whiteout, `trusted.overlay.opaque=y`
// hides the layers below a directory, a non-directory hides everything below
// it. The builder reads images through it without mounting them (COPY
// --from, /etc/passwd for USER and --chown, the destination of COPY), and
// the build context is the same interface over one directory with the
// .dockerignore filter. Paths are absolute inside the root ("/etc/passwd").
import fs from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { lgetxattr } from '@strata/native';
import { InvalidInput, isErrno } from '@strata/common';
import type { IgnoreMatcher } from './dockerignore.ts';

/** An entry found in a view: its stat and where its bytes live on the host. */
export interface Found {
  hostPath: string;
  stat: Stats;
}

/** What COPY reads from: the build context or an image's rootfs. */
export interface SourceView {
  /** The entry at `p` without following a final symlink; null if absent (or excluded). */
  lstat(p: string): Promise<Found | null>;
  /** Names in directory `p` (merged, whiteouts and excluded names removed). */
  readdir(p: string): Promise<string[]>;
  /** `p` with every symlink resolved inside the root (the last one only if followLast). */
  resolve(p: string, followLast: boolean): Promise<string>;
  /** The entry at `p` even if .dockerignore hides it (an excluded dir may hold re-included entries). */
  lstatRaw(p: string): Promise<Found | null>;
  /** True if `p` is hidden by .dockerignore. */
  isExcluded(p: string): boolean;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  try {
    const v = lgetxattr(dir, 'trusted.overlay.opaque');
    return v !== null && v.toString() === 'y';
  } catch {
    return false;
  }
}

/** Splits an absolute in-root path into clean components. */
export function components(p: string): string[] {
  return path.posix.normalize('/' + p).split('/').filter((c) => c !== '' && c !== '.');
}

const MAX_LINKS = 255;

/** Resolves symlinks of `p` inside the root described by lstat/readlink. */
async function resolveIn(view: { lstat(p: string): Promise<Found | null> }, p: string, followLast: boolean): Promise<string> {
  const todo = components(p);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const cur = '/' + [...done, c].join('/');
    const last = todo.length === 0;
    const f = await view.lstat(cur);
    if (f && f.stat.isSymbolicLink() && (!last || followLast)) {
      if (++links > MAX_LINKS) throw new InvalidInput(`${p}: too many levels of symbolic links`);
      const target = await fs.readlink(f.hostPath);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    done.push(c);
  }
  return '/' + done.join('/');
}

/** The merged view of layer directories, top first. */
export class LayerView implements SourceView {
  constructor(readonly layers: readonly string[]) {}

  /** Layers in which directory `p` contributes entries, top first. */
  private async dirLayers(p: string): Promise<string[] | null> {
    let cands = [...this.layers];
    let rel = '';
    for (const c of components(p)) {
      rel += '/' + c;
      const next: string[] = [];
      for (const layer of cands) {
        const st = await lstatOrNull(layer + rel);
        if (!st) continue;
        if (isWhiteout(st)) break;
        if (!st.isDirectory()) {
          if (next.length === 0) return null;
          break;
        }
        next.push(layer);
        if (isOpaque(layer + rel)) break;
      }
      if (next.length === 0) return null;
      cands = next;
    }
    return cands;
  }

  async lstat(p: string): Promise<Found | null> {
    const comps = components(p);
    if (comps.length === 0) {
      for (const layer of this.layers) {
        const st = await lstatOrNull(layer);
        if (st) return { hostPath: layer, stat: st };
      }
      return null;
    }
    const parent = await this.dirLayers('/' + comps.slice(0, -1).join('/'));
    if (!parent) return null;
    const rel = '/' + comps.join('/');
    for (const layer of parent) {
      const st = await lstatOrNull(layer + rel);
      if (!st) continue;
      if (isWhiteout(st)) return null;
      return { hostPath: layer + rel, stat: st };
    }
    return null;
  }

  async readdir(p: string): Promise<string[]> {
    const dl = await this.dirLayers(p);
    if (!dl) return [];
    const rel = components(p).join('/');
    const seen = new Set<string>();
    const gone = new Set<string>();
    for (const layer of dl) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(layer, rel));
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
        throw err;
      }
      for (const n of names) {
        if (seen.has(n) || gone.has(n)) continue;
        const st = await lstatOrNull(path.join(layer, rel, n));
        if (st && isWhiteout(st)) gone.add(n);
        else seen.add(n);
      }
    }
    return [...seen].sort();
  }

  resolve(p: string, followLast: boolean): Promise<string> {
    return resolveIn(this, p, followLast);
  }

  lstatRaw(p: string): Promise<Found | null> {
    return this.lstat(p);
  }

  isExcluded(): boolean {
    return false;
  }
}

/** The build context: one directory, filtered by .dockerignore. */
export class ContextView implements SourceView {
  constructor(
    readonly dir: string,
    readonly ignore: IgnoreMatcher,
  ) {}

  private rel(p: string): string {
    return components(p).join('/');
  }

  isExcluded(p: string): boolean {
    return this.ignore.excluded(this.rel(p));
  }

  async lstat(p: string): Promise<Found | null> {
    const rel = this.rel(p);
    if (rel.split('/').includes('..')) return null;
    if (this.ignore.excluded(rel)) return null;
    const hostPath = path.join(this.dir, rel);
    const st = await lstatOrNull(hostPath);
    return st ? { hostPath, stat: st } : null;
  }

  async lstatRaw(p: string): Promise<Found | null> {
    const rel = this.rel(p);
    if (rel.split('/').includes('..')) return null;
    const hostPath = path.join(this.dir, rel);
    const st = await lstatOrNull(hostPath);
    return st ? { hostPath, stat: st } : null;
  }

  async readdir(p: string): Promise<string[]> {
    const rel = this.rel(p);
    let names: string[];
    try {
      names = await fs.readdir(path.join(this.dir, rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
      throw err;
    }
    // An excluded directory stays listed when `!` patterns might re-include
    // something below it; the copier then creates only what is included.
    const keepDirs = this.ignore.hasExceptions;
    const out: string[] = [];
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (!this.ignore.excluded(r)) out.push(n);
      else if (keepDirs && (await lstatOrNull(path.join(this.dir, r)))?.isDirectory()) out.push(n);
    }
    return out;
  }

  resolve(p: string, followLast: boolean): Promise<string> {
    return resolveIn({ lstat: async (q) => {
      const hostPath = path.join(this.dir, this.rel(q));
      const st = await lstatOrNull(hostPath);
      return st ? { hostPath, stat: st } : null;
    } }, p, followLast);
  }
}
