// The merged tree: one Node per merged name, built lazily one directory at a
// time. Lower layers never change while mounted and every change to the
// upper layer goes through this process, so a directory's merged index is
// read from the layers once and then kept up to date by the operations
// themselves; lookups and readdir cost the same whatever the layer count.
import fs from 'node:fs';
import { prefetchDirs } from '@strata/native';
import { fail } from './errno.ts';
import { Layers, type Source } from './layers.ts';
import { AUFS_OPAQUE, AUFS_PREFIX, isOpaqueDir, isWhiteoutStat, overlayMarks } from './whiteout.ts';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

/** Longest name a directory entry may have (NAME_MAX). */
export const NAME_MAX = 255;
/** Most entries a parent may have for its subdirectories to be read ahead when one of them is (statAheadSiblings). */
const SIBLINGS_MAX = 1024;

/**
 * A directory still only in lower layers with a copy this big in one of
 * its layers (bytes of host directory: about 600 entries on ext4) has its
 * names looked up one at a time until something needs it whole
 * (Tree.lookup).
 * STRATA_SPARSE_LOOKUP_MIN sets it (0: every such directory; tests).
 */
const SPARSE_MIN = Number(process.env.STRATA_SPARSE_LOOKUP_MIN ?? 16384);
/**
 * Names looked up so in one directory before it is read whole after all: a
 * lookup alone took 30-230 us in JavaScript (4000-file directory, by hand),
 * so a program going through the directory gets the merged read (and the
 * loop's prepared answers, see lowlevel.ts) after these.
 */
const SPARSE_NAMES_MAX = 32;
/** Layers a directory may merge and still be looked up a name at a time. */
const SPARSE_LAYERS_MAX = 8;

function direntType(d: fs.Dirent): number {
  if (d.isDirectory()) return S_IFDIR;
  if (d.isFile()) return S_IFREG;
  if (d.isSymbolicLink()) return S_IFLNK;
  if (d.isCharacterDevice()) return S_IFCHR;
  if (d.isBlockDevice()) return S_IFBLK;
  if (d.isFIFO()) return S_IFIFO;
  return S_IFSOCK;
}

/** One name in the merged view. */
export class Node {
  /** File type bits (S_IFDIR, ...). */
  type: number;
  /** The entry exists in the upper layer at upperPath(this). */
  upper: boolean;
  /** Topmost lower entry with this name (what serves it until copy-up). */
  lower: Source | null;
  /** Directories: the lower directories merged beneath (empty when opaque). */
  lowerDirs: Source[] = [];
  /** The parent's lower view has this name: deleting it needs a whiteout. */
  lowerVisible: boolean;
  /** Directories: the merged entries, once read. */
  children: Map<string, Node> | null = null;
  /** Directories: names whited out in this directory's upper layer. */
  upperWhiteouts: Set<string> | null = null;
  /** Inode number in the merged view (0 until first asked). */
  ino = 0;
  /** Open handles and lookups may keep a node after it was removed. */
  removed = false;
  /**
   * Readdir offset of this entry in its parent: increasing in the order of
   * the parent's children map (1 and 2 are "." and ".."), kept while the
   * entry stays, so a listing resumed at an offset after changes neither
   * skips nor repeats the entries that stayed.
   */
  cookie = 0;
  /** Directories: the last cookie given out. */
  cookieSeq = 2;
  /** Directories: counts changes to `children`, so listings built from it know when they are stale. */
  version = 0;
  /** Directories: `children` as an array in cookie order, as of `listedVersion` (see Tree.listing). */
  listed: Node[] | null = null;
  listedVersion = -1;
  /**
   * Directories still only in lower layers: their merged stat. Lower layers
   * do not change while mounted, and any change copies the directory up
   * first (`upper` turns true), so it holds until then.
   */
  lowerStat: Float64Array | null = null;
  /**
   * Directories whose entries were not read yet: the names looked up one at
   * a time meanwhile (Tree.lookup), null for a name found nowhere.
   * children() takes these nodes in when it reads the directory whole.
   */
  partial: Map<string, Node | null> | null = null;

  constructor(
    public name: string,
    public parent: Node | null,
    type: number,
    upper: boolean,
    lower: Source | null,
    lowerVisible: boolean,
  ) {
    this.type = type;
    this.upper = upper;
    this.lower = lower;
    this.lowerVisible = lowerVisible;
  }

  get isDir(): boolean {
    return this.type === S_IFDIR;
  }

  /** The merged path, "/"-rooted. */
  get path(): string {
    if (!this.parent) return '/';
    const parts: string[] = [];
    for (let n: Node | null = this; n && n.parent; n = n.parent) parts.push(n.name);
    return '/' + parts.reverse().join('/');
  }
}

/** Adds (or replaces) entry `name` of a read directory: it goes to the end, with the next cookie. */
export function addChild(dir: Node, name: string, node: Node): void {
  const children = dir.children!;
  children.delete(name);
  node.cookie = ++dir.cookieSeq;
  children.set(name, node);
  dir.version++;
}

/** Removes entry `name` of a read directory. */
export function removeChild(dir: Node, name: string): void {
  if (dir.children!.delete(name)) dir.version++;
}

/** Entry `name` of `dir` now names `node`, in the place (and with the cookie) of what it named before. */
export function replaceChild(dir: Node, name: string, node: Node, cookie: number): void {
  dir.children!.set(name, node);
  node.cookie = cookie;
  dir.version++;
}

/** Resolves merged paths to nodes and reads directories' merged indexes. */
export class Tree {
  readonly root: Node;

  constructor(readonly layers: Layers) {
    const lowers: Source[] = [];
    for (let i = layers.firstLower; i < layers.roots.length; i++) {
      lowers.push({ layer: i, rel: '/' });
      if (i < layers.roots.length - 1 && isOpaqueDir(layers.roots[i]!)) break;
    }
    const upperOpaque = layers.hasUpper && isOpaqueDir(layers.roots[0]!);
    this.root = new Node('', null, S_IFDIR, layers.hasUpper, lowers[0] ?? null, false);
    this.root.lowerDirs = upperOpaque ? [] : lowers;
  }

  /** The host path of the upper copy of `node` (whether or not it exists yet). */
  upperPath(node: Node): string {
    const p = node.path;
    return p === '/' ? this.layers.roots[0]! : this.layers.roots[0]! + p;
  }

  /** The host path that serves `node` now: its upper copy, else its top lower entry. */
  realPath(node: Node): string {
    if (node.upper) return this.upperPath(node);
    const src = node.isDir ? node.lowerDirs[0] ?? node.lower : node.lower;
    if (!src) fail('ENOENT', node.path);
    return this.layers.real(src);
  }

  /** The layer index that serves `node`. */
  layerOf(node: Node): number {
    if (node.upper) return 0;
    const src = node.isDir ? node.lowerDirs[0] ?? node.lower : node.lower;
    return src ? src.layer : -1;
  }

  /** The node for merged path `p`; throws ENOENT / ENOTDIR / ENAMETOOLONG like a lookup. */
  resolve(p: string): Node {
    let node = this.root;
    if (p === '/' || p === '') return node;
    let start = 1;
    while (start <= p.length) {
      let end = p.indexOf('/', start);
      if (end === -1) end = p.length;
      if (end > start) {
        const name = p.slice(start, end);
        if (!node.isDir) fail('ENOTDIR', p);
        const child = this.lookup(node, name);
        if (!child) {
          if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', p);
          fail('ENOENT', p);
        }
        node = child;
      }
      start = end + 1;
    }
    return node;
  }

  /**
   * Entry `name` of directory `dir`. A big directory still only in lower
   * layers and not read yet has the one name looked up in each of its
   * layers instead, as kernel overlayfs does: merging a directory of 4000
   * files to answer one name took 41-45 ms in the server. The nodes made so
   * are the ones children() gives once it reads the directory whole.
   */
  lookup(dir: Node, name: string): Node | undefined {
    if (dir.children || (dir.partial?.size ?? 0) >= SPARSE_NAMES_MAX || !this.sparse(dir)) return this.children(dir).get(name);
    const seen = dir.partial?.get(name);
    if (seen !== undefined) return seen ?? undefined;
    const node = this.lookupOne(dir, name);
    (dir.partial ??= new Map()).set(name, node);
    return node ?? undefined;
  }

  /** Directories lookup() answers a name at a time (see SPARSE_MIN). */
  private readonly sparseDirs = new WeakMap<Node, boolean>();
  /** Per such directory: the last of its sources to merge (the first holding an aufs opaque marker, else the last). */
  private readonly markerAt = new WeakMap<Node, number>();

  private sparse(dir: Node): boolean {
    if (dir.upper || dir.removed || !dir.isDir || dir.lowerDirs.length === 0) return false;
    let big = this.sparseDirs.get(dir);
    if (big === undefined) {
      // Any of its copies (an image's later layers add a few files to a big
      // directory of its first), in at most SPARSE_LAYERS_MAX layers: a name
      // costs two lstats a layer, and this check one a layer.
      big = dir.lowerDirs.length <= SPARSE_LAYERS_MAX &&
        dir.lowerDirs.some((src) => (fs.lstatSync(this.layers.real(src), { throwIfNoEntry: false })?.size ?? 0) >= SPARSE_MIN);
      this.sparseDirs.set(dir, big);
    }
    return big;
  }

  /**
   * Name `name` of `dir` (still only in lower layers) as children() would
   * merge it, from a lookup of it in each layer, top down: the first copy
   * serves it; a directory merges the directories below it until a
   * whiteout (of either format), an opaque mark, a redirect or a
   * non-directory ends the chain; an aufs opaque marker in a layer's copy of
   * `dir` ends it after that layer. null: not in the merged view.
   */
  private lookupOne(dir: Node, name: string): Node | null {
    if (name.startsWith(AUFS_PREFIX)) return null; // whiteouts and markers are never shown
    const sources = dir.lowerDirs;
    let lastSource = this.markerAt.get(dir);
    if (lastSource === undefined) {
      lastSource = sources.length - 1;
      for (let si = 0; si < sources.length; si++) {
        if (exists(this.layers.real(sources[si]!) + '/' + AUFS_OPAQUE)) {
          lastSource = si;
          break;
        }
      }
      this.markerAt.set(dir, lastSource);
    }
    let node: Node | null = null;
    for (let si = 0; si <= lastSource; si++) {
      const src = sources[si]!;
      // Opaque marks and redirects count while layers lie below (see children()).
      const marksMatter = si < sources.length - 1 || src.layer < this.layers.roots.length - 1;
      const real = this.layers.real(src);
      const st = fs.lstatSync(real + '/' + name, { throwIfNoEntry: false });
      // Hidden from the layers below (not from this one: children() applies a layer's whiteouts after it).
      const whitedOut = (st !== undefined && isWhiteoutStat(st)) || whitedOutIn(real, name);
      if (st && !isWhiteoutStat(st)) {
        const type = st.mode & S_IFMT;
        const childRel = joinRel(src.rel, name);
        if (!node) node = new Node(name, dir, type, false, { layer: src.layer, rel: childRel }, true);
        else if (!(node.isDir && type === S_IFDIR)) break; // a non-directory below a directory ends its chain
        if (!node.isDir) break;
        node.lowerDirs.push({ layer: src.layer, rel: childRel });
        if (marksMatter && this.endsChain(node, real + '/' + name, src)) break;
      }
      if (whitedOut) break;
    }
    return node;
  }

  /**
   * Directory `node`'s copy at host path `copy` (in source `src`, with layers
   * below it) ends its merge chain there: it is opaque, or renamed in that
   * layer (kernel redirect_dir), in which case what lies below it is at the
   * redirect and is added to its lower directories.
   */
  private endsChain(node: Node, copy: string, src: Source): boolean {
    const marks = overlayMarks(copy);
    if (marks.opaque) return true;
    if (marks.redirect === null) return false;
    node.lowerDirs.push(...this.lowerDirsAt(redirectTarget(marks.redirect, src.rel), src.layer));
    return true;
  }

  /** The merged entries of directory `dir`, read from the layers on first use. */
  children(dir: Node): Map<string, Node> {
    if (dir.children) return dir.children;
    const entries = new Map<string, Node>();
    const upperWhiteouts = new Set<string>();
    // Names hidden from the layers below the current one.
    const hidden = new Set<string>();
    // Child directories whose merge chain was cut (opaque, or a non-dir below).
    const stopped = new Set<Node>();
    const lowerSeen = new Set<string>();
    const sources: Source[] = [];
    if (dir.upper) sources.push({ layer: 0, rel: dir.path });
    sources.push(...dir.lowerDirs);

    for (let si = 0; si < sources.length; si++) {
      const src = sources[si]!;
      const isUpper = this.layers.hasUpper && src.layer === 0;
      const isLast = si === sources.length - 1;
      // Opaque marks and redirects of subdirectories matter while layers lie
      // below: a redirect can point outside this directory's own chain (a
      // directory moved into a new parent, then the layers rotated).
      const marksMatter = !isLast || src.layer < this.layers.roots.length - 1;
      const real = this.layers.real(src);
      let list: fs.Dirent[];
      try {
        list = fs.readdirSync(real, { withFileTypes: true });
      } catch {
        continue; // a lower directory that vanished or is unreadable merges as empty
      }
      const newlyHidden: string[] = [];
      // An aufs opaque marker in this layer's copy cuts the layers below (the
      // xattr form was seen when the parent was read, see below).
      let markerOpaque = false;
      for (const d of list) {
        const name = d.name;
        if (name.startsWith(AUFS_PREFIX)) {
          if (name === AUFS_OPAQUE) markerOpaque = true;
          else {
            const target = name.slice(AUFS_PREFIX.length);
            newlyHidden.push(target);
            if (isUpper) upperWhiteouts.add(target);
          }
          continue;
        }
        if (d.isCharacterDevice()) {
          let st: fs.Stats | undefined;
          try {
            st = fs.lstatSync(real + '/' + name);
          } catch {
            continue;
          }
          if (isWhiteoutStat(st)) {
            newlyHidden.push(name);
            if (isUpper) upperWhiteouts.add(name);
            continue;
          }
        }
        if (hidden.has(name)) continue;
        if (!isUpper) lowerSeen.add(name);
        const childRel = src.rel === '/' ? '/' + name : src.rel + '/' + name;
        const type = direntType(d);
        const existing = entries.get(name);
        if (existing) {
          if (isUpper) continue;
          if (!existing.lower) existing.lower = { layer: src.layer, rel: childRel };
          if (stopped.has(existing)) continue;
          if (existing.isDir && type === S_IFDIR) {
            existing.lowerDirs.push({ layer: src.layer, rel: childRel });
            if (marksMatter && this.endsChain(existing, real + '/' + name, src)) stopped.add(existing);
          } else {
            stopped.add(existing);
          }
          continue;
        }
        const node = new Node(name, dir, type, isUpper, isUpper ? null : { layer: src.layer, rel: childRel }, false);
        entries.set(name, node);
        if (type === S_IFDIR) {
          if (!isUpper) node.lowerDirs.push({ layer: src.layer, rel: childRel });
          if (marksMatter && this.endsChain(node, real + '/' + name, src)) {
            // (An upper copy redirected: its lower part is where the redirect points.)
            if (isUpper) node.lower = node.lowerDirs[0] ?? null;
            stopped.add(node);
          }
        } else {
          stopped.add(node);
        }
      }
      for (const n of newlyHidden) hidden.add(n);
      if (markerOpaque) {
        // What lies below does not belong to this directory after all.
        dir.lowerDirs = dir.lowerDirs.slice(0, si + 1 - (dir.upper ? 1 : 0));
        break;
      }
    }
    if (dir.partial) {
      // Names looked up one at a time before (lookup()): the same nodes go
      // on, with what the whole read says of them.
      for (const [name, old] of dir.partial) {
        if (!old) continue;
        const now = entries.get(name);
        if (!now) {
          old.removed = true; // (only if a lower layer changed under the mount)
          continue;
        }
        old.type = now.type;
        old.upper = now.upper;
        old.lower = now.lower;
        old.lowerDirs = now.lowerDirs;
        entries.set(name, old);
      }
      dir.partial = null;
    }
    let cookie = 2;
    const ahead: string[] = [];
    for (const [name, node] of entries) {
      node.lowerVisible = lowerSeen.has(name);
      node.cookie = ++cookie;
      if (node.isDir) for (const src of node.lowerDirs) ahead.push(this.layers.real(src));
    }
    // A walk reads these next: let the disk fetch them all at once meanwhile.
    if (ahead.length) prefetchDirs(ahead);
    dir.cookieSeq = cookie;
    dir.version++;
    dir.children = entries;
    dir.upperWhiteouts = upperWhiteouts;
    return entries;
  }

  /** The entries of directory `dir` in cookie order (kept until the directory changes). */
  listing(dir: Node): Node[] {
    const children = this.children(dir);
    if (!dir.listed || dir.listedVersion !== dir.version) {
      dir.listed = [...children.values()];
      dir.listedVersion = dir.version;
    }
    return dir.listed;
  }

  /**
   * Lookups of files in `dir` have begun (a program stats or opens them one
   * by one): read every entry's inode of its layer copies ahead.
   */
  statAhead(dir: Node): void {
    if (!dir.isDir) return;
    const paths = dir.lowerDirs.map((src) => this.layers.real(src));
    if (dir.upper) paths.push(this.upperPath(dir));
    if (paths.length) prefetchDirs(paths, true);
  }

  /**
   * Files of `dir`, a directory still only in lower layers, are being looked
   * up one by one, the first such directory under its parent: a walk that
   * stats files goes on to the sibling directories next, so read their
   * entries' inodes ahead too. Only siblings still only in lower layers:
   * what is in the upper layer was written through the mount (it is
   * cached), and reading a directory a program is filling (an untar) would
   * only hold up its creates.
   */
  statAheadSiblings(dir: Node): void {
    const siblings = dir.parent?.children;
    // A parent of thousands (a package tree's doc/): a walk there wants few of them.
    if (dir.upper || !siblings || siblings.size > SIBLINGS_MAX) return;
    const paths: string[] = [];
    for (const sib of siblings.values()) {
      if (sib === dir || !sib.isDir || sib.upper) continue;
      for (const src of sib.lowerDirs) paths.push(this.layers.real(src));
    }
    if (paths.length) prefetchDirs(paths, true);
  }

  /**
   * The lower directories that merge at path `p` in the layers below layer
   * `below` (a redirect target): each layer is looked up from its root, with
   * its whiteouts, opaque directories and, in turn, its own redirects.
   */
  lowerDirsAt(p: string, below: number): Source[] {
    const out: Source[] = [];
    const comps = p.split('/').filter(Boolean);
    const full = '/' + comps.join('/');
    const last = this.layers.roots.length - 1;
    for (let L = Math.max(below + 1, this.layers.firstLower); L <= last; L++) {
      let rel = '';
      let present = true;
      let stopAfter = L < last && isOpaqueDir(this.layers.roots[L]!);
      let blocked = false;
      for (let i = 0; i < comps.length; i++) {
        const parentReal = this.layers.real({ layer: L, rel: rel || '/' });
        rel += '/' + comps[i];
        let st: fs.Stats;
        try {
          st = fs.lstatSync(parentReal + '/' + comps[i]);
        } catch {
          present = false;
          if (whitedOutIn(parentReal, comps[i]!)) blocked = true;
          break;
        }
        if (!st.isDirectory()) {
          present = false;
          blocked = true; // a file or a whiteout hides the path from the layers below
          break;
        }
        if (i < comps.length - 1 && L < last && isOpaqueDir(parentReal + '/' + comps[i])) stopAfter = true;
      }
      if (blocked) break;
      if (present) {
        out.push({ layer: L, rel: full });
        if (L < last) {
          const real = this.layers.real({ layer: L, rel: full });
          const marks = overlayMarks(real);
          if (marks.opaque || isOpaqueDir(real)) break;
          if (marks.redirect !== null) {
            out.push(...this.lowerDirsAt(redirectTarget(marks.redirect, parentOf(full)), L));
            break;
          }
        }
      }
      if (stopAfter) break;
    }
    return out;
  }
}

/** A redirect xattr's target: absolute, or a name relative to the directory's parent `parentRel`. */
function redirectTarget(redirect: string, parentRel: string): string {
  return redirect.startsWith('/') ? redirect : joinRel(parentRel, redirect);
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function exists(p: string): boolean {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function whitedOutIn(dir: string, name: string): boolean {
  return exists(dir + '/' + AUFS_PREFIX + name);
}

function joinRel(parent: string, name: string): string {
  return parent === '/' ? '/' + name : parent + '/' + name;
}
