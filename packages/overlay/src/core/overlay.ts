// The overlay engine: every filesystem operation of the merged view, on
// merged paths, independent of the transport that carries it (fuse-native
// today, a /dev/fuse loop later). Errors are thrown with errno codes
// (FsError or Node's fs errors); the transport turns them into replies.
//
// Lifecycle: new Overlay(opts) validates nothing (see validate.ts); the
// transport calls the operations; close() releases open file descriptors.
import fs from 'node:fs';
import path from 'node:path';
import { dupOnto, fstatArray, futimesNs, lgetxattr, llistxattr, lstatArray, lremovexattr, lsetxattr, lutimesNs, mknod, removeTree, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT } from '@strata/native';
import { fail } from './errno.ts';
import { HardLinks } from './hardlinks.ts';
import { exchangeEntries, renameEntry, type RenameEnv } from './rename.ts';
import { Inodes, ROOT_INO } from './inodes.ts';
import { Layers } from './layers.ts';
import { copyUp, type CopyUpEnv } from './copyup.ts';
import { addChild, NAME_MAX, Node, removeChild, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, Tree } from './tree.ts';
import { AUFS_PREFIX, isPrivateXattr, isWhiteoutStat, makeOpaque, WhiteoutWriter, type WhiteoutFormat } from './whiteout.ts';

export interface EngineOptions {
  lowerDirs: string[];
  upperDir?: string;
  workDir?: string;
  whiteout?: WhiteoutFormat;
  /** Skip fsync of copied-up data (build mounts). */
  noSync?: boolean;
  /** false: renaming a directory with lower parts fails with EXDEV (kernel redirect_dir=off). */
  redirectDir?: boolean | 'copy';
  /** Where copied-up hard links are indexed (inside workdir); none: tracked for this mount only. */
  indexDir?: string;
}

/** Who asks: new entries are owned by the caller, as on any filesystem. */
export interface Caller {
  uid: number;
  gid: number;
}

/** A stat as the transport sends it: see fuse-native's stat array layout. */
export type StatArray = Float64Array;

/** An entry of a merged directory listing. */
export interface DirEntry {
  name: string;
  type: number;
  /** Merged inode number, 0 if not assigned yet. */
  ino: number;
}

interface Handle {
  fd: number;
  node: Node;
  writable: boolean;
}

const O_ACCMODE = 3;
const O_TRUNC = fs.constants.O_TRUNC;
const O_CREAT = fs.constants.O_CREAT;
const O_EXCL = fs.constants.O_EXCL;
const UTIME_OMIT = (1 << 30) - 2;
const IS_ROOT = process.getuid?.() === 0;

function splitPath(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  return [i <= 0 ? '/' : p.slice(0, i), p.slice(i + 1)];
}

export class Overlay {
  readonly layers: Layers;
  readonly tree: Tree;
  readonly inodes = new Inodes();
  readonly format: WhiteoutFormat;
  private readonly whiteouts: WhiteoutWriter;
  readonly readOnly: boolean;
  private readonly handles = new Map<number, Handle>();
  /**
   * Whether the open file behind descriptor `fd` goes on reading a file's
   * copy once it is copied up (readersFollow). The transport says: a
   * handle whose reads the kernel passes through to the lower file itself
   * keeps it. By default every reader follows.
   */
  followsCopyUp: (fd: number) => boolean = () => true;
  /** Told when a directory gets its upper copy (what lists it changes from now on). */
  dirCopiedUp: ((node: Node) => void) | null = null;
  /** Told when a lower file of several links is copied up: its other names are served from the copy from now on. */
  linkCopied: (() => void) | null = null;
  private nextHandle = 1;
  private tmpSeq = 0;
  private readonly copyEnv: CopyUpEnv;
  private readonly links: HardLinks;
  private readonly renameEnv: RenameEnv;

  constructor(readonly opts: EngineOptions) {
    this.layers = new Layers(opts.lowerDirs, opts.upperDir, opts.workDir);
    this.tree = new Tree(this.layers);
    this.tree.root.ino = ROOT_INO;
    // Overlay whiteouts are device nodes: a server without CAP_MKNOD (not
    // root) writes the aufs format unless told otherwise.
    this.format = opts.whiteout ?? (IS_ROOT ? 'overlay' : 'aufs');
    this.readOnly = !opts.upperDir;
    const workDir = this.layers.workDir ?? '';
    this.links = new HardLinks(opts.upperDir ? opts.indexDir : undefined);
    this.copyEnv = {
      tree: this.tree,
      workDir,
      sync: !opts.noSync,
      tempName: () => this.tempName(),
      onCopiedUp: (node, lowerSt, upperSt) => {
        if (node.ino) this.inodes.alias(upperSt.dev, upperSt.ino, node.ino);
        else node.ino = this.inodes.of(Number(lowerSt.dev), Number(lowerSt.ino));
        this.inodes.alias(upperSt.dev, upperSt.ino, node.ino);
        if (lowerSt.nlink > 1n && node.type === S_IFREG) {
          this.links.recordCopy(lowerSt, this.tree.upperPath(node));
          this.linkCopied?.();
        }
        if (node.type === S_IFREG) this.readersFollow(node);
        else if (node.isDir) this.dirCopiedUp?.(node);
      },
      linkedCopy: (st) => this.links.copyOf(st),
    };
    this.whiteouts = new WhiteoutWriter(this.format, this.layers.workDir ? () => this.tempName() : null);
    this.renameEnv = {
      tree: this.tree, copyEnv: this.copyEnv, format: this.format, whiteouts: this.whiteouts,
      dirRename: opts.redirectDir === false ? 'exdev' : opts.redirectDir === 'copy' ? 'copy' : 'redirect',
    };
  }

  /**
   * Entries place() made that have no number yet: their host inode is new,
   * whatever number the host reused for it, so they get a new merged number
   * at their first stat (numberOf), never one the map kept for a file
   * deleted earlier in the mount.
   */
  private readonly made = new WeakSet<Node>();

  /** The merged number of `node`, whose host file is (dev, ino). */
  private numberOf(node: Node, dev: number, ino: number): number {
    return this.made.delete(node) ? this.inodes.renew(dev, ino) : this.inodes.of(dev, ino);
  }

  /** A fresh path inside workdir for building an entry before it is renamed into place. */
  tempName(): string {
    return path.join(this.layers.workDir!, `#${process.pid}.${this.tmpSeq++}`);
  }

  private writable(p: string): void {
    if (this.readOnly) fail('EROFS', p);
  }

  /** The host path serving `node`; a lower hard link whose sibling was copied up is served by that copy. */
  private servePath(node: Node): string {
    if (!node.upper && node.lower && node.type === S_IFREG && this.links.size) {
      const st = fs.lstatSync(this.layers.real(node.lower), { bigint: true });
      if (st.nlink > 1n) {
        const copy = this.links.copyOf(st);
        if (copy) return copy;
      }
    }
    return this.tree.realPath(node);
  }

  /**
   * Stat of a node of the tree (what getattr(node.path) gives, without
   * resolving the path again). With `into`, those of
   * anything but a directory are written there and it is returned: a
   * walk's listings stat thousands of files, each new array an off-heap
   * buffer for the collector (the caller must not keep it).
   */
  statNode(node: Node, into?: StatArray): StatArray {
    // A walk that comes back (find, warm) asks again for every directory: the kernel drops the atime it was told after each listing.
    if (node.lowerStat && !node.upper) return node.lowerStat;
    const d = into && !node.isDir ? into : new Float64Array(16);
    lstatArray(this.servePath(node), d);
    if (!node.ino) node.ino = this.numberOf(node, d[4]!, d[6]!);
    if (node.isDir) {
      // A merged directory's link count is unknowable cheaply; 1 tells find not to count on it (as the kernel does).
      if (node.lowerDirs.length + (node.upper ? 1 : 0) > 1) d[5] = 1;
      if (!node.upper) node.lowerStat = d;
    } else if (node.type === S_IFREG && this.links.size) {
      const shared = this.links.nlink({ dev: d[4]!, ino: d[6]!, nlink: d[5]! });
      if (shared !== undefined) d[5] = shared;
    }
    d[6] = node.ino;
    return d;
  }

  // ---- queries -----------------------------------------------------------

  getattr(p: string): StatArray {
    return this.statNode(this.tree.resolve(p));
  }

  fgetattr(fh: number, p: string): StatArray {
    const h = this.handles.get(fh);
    if (!h) return this.getattr(p);
    const d = new Float64Array(16);
    fstatArray(h.fd, d);
    if (!h.node.ino) h.node.ino = this.numberOf(h.node, d[4]!, d[6]!);
    d[6] = h.node.ino;
    return d;
  }

  readdir(p: string): DirEntry[] {
    const node = this.tree.resolve(p);
    if (!node.isDir) fail('ENOTDIR', p);
    const out: DirEntry[] = [
      { name: '.', type: S_IFDIR, ino: node.ino },
      { name: '..', type: S_IFDIR, ino: node.parent?.ino ?? ROOT_INO },
    ];
    for (const [name, child] of this.tree.children(node)) out.push({ name, type: child.type, ino: child.ino });
    return out;
  }

  readlink(p: string): string {
    const node = this.tree.resolve(p);
    if (node.type !== S_IFLNK) fail('EINVAL', p);
    return fs.readlinkSync(this.servePath(node));
  }

  /** Which layer serves `p` (index into layers.roots) and the host path. */
  which(p: string): { layer: number; hostPath: string } {
    const node = this.tree.resolve(p);
    return { layer: this.tree.layerOf(node), hostPath: this.servePath(node) };
  }

  statfs(): fs.StatsFs {
    return fs.statfsSync(this.layers.roots[0]!);
  }

  // ---- files ---------------------------------------------------------------

  open(p: string, flags: number): number {
    const node = this.tree.resolve(p);
    const acc = flags & O_ACCMODE;
    const writable = acc !== fs.constants.O_RDONLY;
    if (writable || flags & O_TRUNC) {
      this.writable(p);
      if (node.isDir) fail('EISDIR', p);
      copyUp(this.copyEnv, node, { data: !(flags & O_TRUNC) });
    }
    const fd = fs.openSync(this.servePath(node), flags & ~(O_CREAT | O_EXCL));
    return this.addHandle(fd, node, writable);
  }

  /**
   * `node`, a regular file, was copied up while handles had its lower file
   * open for reading: they read the copy from now on, as under kernel
   * overlayfs since Linux 4.19. A write through another open must show to
   * them, and the kernel's page cache, which shows it for a while, lets go
   * of pages whenever it likes; a handle that still read the lower file
   * then brought the old bytes back (and into the cache, for every open of
   * the file). The descriptor number stays: the kernel knows the handle by it.
   */
  private readersFollow(node: Node): void {
    let copy = -1;
    try {
      for (const h of this.handles.values()) {
        if (h.node !== node || h.writable || !this.followsCopyUp(h.fd)) continue;
        if (copy < 0) copy = fs.openSync(this.tree.upperPath(node), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        dupOnto(copy, h.fd);
      }
    } finally {
      if (copy >= 0) fs.closeSync(copy);
    }
  }

  create(p: string, mode: number, flags: number, caller: Caller): number {
    this.writable(p);
    let fd = -1;
    const node = this.place(p, S_IFREG, (target) => {
      fd = fs.openSync(target, (flags & ~O_TRUNC) | O_CREAT | O_EXCL, mode & 0o7777);
      this.own(target, caller);
    });
    return this.addHandle(fd, node, (flags & O_ACCMODE) !== fs.constants.O_RDONLY);
  }

  /**
   * A regular file the FUSE loop made itself in `parent`'s upper directory,
   * as create() would have for root (open(O_CREAT|O_EXCL) of a new name in
   * a directory with no lower parts and no whiteouts): enters it in the
   * tree with merged inode number `ino` (one of Inodes.reserve) and returns
   * its handle on `fd`, open for reading and writing.
   */
  adoptCreated(parent: Node, name: string, fd: number, hostDev: number, hostIno: number, ino: number): { node: Node; fh: number } {
    const children = this.tree.children(parent);
    let node = children.get(name);
    if (!node) {
      node = new Node(name, parent, S_IFREG, true, null, false);
      addChild(parent, name, node);
    }
    node.ino = ino;
    this.inodes.alias(hostDev, hostIno, ino);
    return { node, fh: this.addHandle(fd, node, true) };
  }

  private addHandle(fd: number, node: Node, writable: boolean): number {
    const fh = this.nextHandle++;
    if (this.nextHandle > 0x7fffffff) this.nextHandle = 1;
    this.handles.set(fh, { fd, node, writable });
    return fh;
  }

  /** The host fd of handle `fh` (reads and writes go straight to it). */
  fd(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) fail('EBADF');
    return h.fd;
  }

  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    fs.closeSync(h.fd);
  }

  fsync(fh: number, datasync: boolean): void {
    const fd = this.fd(fh);
    if (datasync) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
  }

  truncate(p: string, size: number): void {
    this.writable(p);
    const node = this.tree.resolve(p);
    if (node.isDir) fail('EISDIR', p);
    copyUp(this.copyEnv, node, { data: size > 0 });
    fs.truncateSync(this.tree.upperPath(node), size);
  }

  ftruncate(fh: number, p: string, size: number): void {
    const h = this.handles.get(fh);
    if (!h || !h.writable) return this.truncate(p, size);
    fs.ftruncateSync(h.fd, size);
  }

  // ---- attributes ----------------------------------------------------------

  private upperOf(p: string): string {
    this.writable(p);
    const node = this.tree.resolve(p);
    copyUp(this.copyEnv, node);
    return this.tree.upperPath(node);
  }

  chmod(p: string, mode: number): void {
    fs.chmodSync(this.upperOf(p), mode & 0o7777);
  }

  chown(p: string, uid: number, gid: number): void {
    // -1 (as 0xffffffff) leaves that id unchanged.
    fs.lchownSync(this.upperOf(p), uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid);
  }

  /** Times as [sec, nsec]; nsec may be UTIME_NOW or UTIME_OMIT. */
  utimens(p: string, atime: [number, number], mtime: [number, number]): void {
    if (atime[1] === UTIME_OMIT && mtime[1] === UTIME_OMIT) {
      this.tree.resolve(p);
      return;
    }
    lutimesNs(this.upperOf(p), atime[0], atime[1], mtime[0], mtime[1]);
  }

  /**
   * The host fd of handle `fh` when it is a writable open of an upper file
   * (its attributes can be changed through it: no path walk, no copy-up
   * check), else undefined. Setattr through a file descriptor (fchmod,
   * fchown, futimens: what tar does) comes with the handle.
   */
  private upperFd(fh: number): number | undefined {
    const h = this.handles.get(fh);
    return h && h.writable && h.node.upper && !this.readOnly ? h.fd : undefined;
  }

  fchmod(fh: number, p: string, mode: number): void {
    const fd = this.upperFd(fh);
    if (fd === undefined) return this.chmod(p, mode);
    fs.fchmodSync(fd, mode & 0o7777);
  }

  fchown(fh: number, p: string, uid: number, gid: number): void {
    const fd = this.upperFd(fh);
    if (fd === undefined) return this.chown(p, uid, gid);
    fs.fchownSync(fd, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid);
  }

  futimens(fh: number, p: string, atime: [number, number], mtime: [number, number]): void {
    const fd = this.upperFd(fh);
    if (fd === undefined || (atime[1] === UTIME_OMIT && mtime[1] === UTIME_OMIT)) return this.utimens(p, atime, mtime);
    futimesNs(fd, atime[0], atime[1], mtime[0], mtime[1]);
  }

  getxattr(p: string, name: string): Buffer | null {
    if (isPrivateXattr(name)) fail('EOPNOTSUPP', p);
    return lgetxattr(this.servePath(this.tree.resolve(p)), name);
  }

  listxattr(p: string): string[] {
    return llistxattr(this.servePath(this.tree.resolve(p))).filter((n) => !isPrivateXattr(n));
  }

  setxattr(p: string, name: string, value: Buffer, flags: number): void {
    if (isPrivateXattr(name)) fail('EOPNOTSUPP', p);
    lsetxattr(this.upperOf(p), name, value, flags);
  }

  removexattr(p: string, name: string): void {
    if (isPrivateXattr(name)) fail('EOPNOTSUPP', p);
    const node = this.tree.resolve(p);
    if (!node.upper && lgetxattr(this.servePath(node), name) === null) fail('ENODATA', p);
    lremovexattr(this.upperOf(p), name);
  }

  // ---- names ---------------------------------------------------------------

  private own(hostPath: string, caller: Caller): void {
    if (IS_ROOT && (caller.uid !== 0 || caller.gid !== 0)) fs.lchownSync(hostPath, caller.uid, caller.gid);
  }

  /**
   * Makes a new entry `p` in the upper layer with `make(hostPath)`. A name
   * whited out in the upper layer is replaced atomically (built in workdir,
   * renamed over the whiteout); a directory made there is opaque, so what
   * was deleted stays deleted.
   */
  private place(p: string, type: number, make: (hostPath: string) => void, newFile = true): Node {
    const [dir, name] = splitPath(p);
    const parent = this.tree.resolve(dir);
    if (!parent.isDir) fail('ENOTDIR', p);
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', p);
    const children = this.tree.children(parent);
    if (children.has(name)) fail('EEXIST', p);
    copyUp(this.copyEnv, parent);
    this.tree.children(parent);
    const target = this.tree.upperPath(parent) + '/' + name;
    const whitedOut = parent.upperWhiteouts?.has(name) ?? false;
    if (!whitedOut) {
      make(target);
      // Like the kernel, a directory made inside a merged one is opaque from
      // the start, so no lower layer can ever show through it.
      if (type === S_IFDIR && this.format === 'overlay' && parent.lowerDirs.length > 0) makeOpaque(target, 'overlay');
    } else {
      const overlayWhiteout = isOverlayWhiteoutAt(target);
      if (overlayWhiteout) {
        const tmp = this.tempName();
        make(tmp);
        if (type === S_IFDIR) {
          makeOpaque(tmp, 'overlay');
          renameat2(tmp, target, RENAME_EXCHANGE);
          fs.unlinkSync(tmp);
        } else {
          fs.renameSync(tmp, target);
        }
      } else {
        make(target);
        if (type === S_IFDIR) makeOpaque(target, this.format);
        fs.rmSync(this.tree.upperPath(parent) + '/' + AUFS_PREFIX + name, { force: true });
      }
      parent.upperWhiteouts!.delete(name);
    }
    const node = new Node(name, parent, type, true, null, whitedOut);
    if (newFile) this.made.add(node);
    if (type === S_IFDIR) {
      // Made empty just now, with nothing below it (or opaque): no need to list it.
      node.children = new Map();
      node.upperWhiteouts = new Set();
    }
    addChild(parent, name, node);
    return node;
  }

  mkdir(p: string, mode: number, caller: Caller): void {
    this.writable(p);
    this.place(p, S_IFDIR, (t) => {
      fs.mkdirSync(t, { mode: mode & 0o7777 });
      if (mode & 0o7000) fs.chmodSync(t, mode & 0o7777);
      this.own(t, caller);
    });
  }

  mknod(p: string, mode: number, dev: number, caller: Caller): void {
    this.writable(p);
    this.place(p, mode & S_IFMT, (t) => {
      mknod(t, mode, (dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
      this.own(t, caller);
    });
  }

  symlink(target: string, p: string, caller: Caller): void {
    this.writable(p);
    this.place(p, S_IFLNK, (t) => {
      fs.symlinkSync(target, t);
      this.own(t, caller);
    });
  }

  link(from: string, to: string): void {
    this.writable(to);
    const src = this.tree.resolve(from);
    if (src.isDir) fail('EPERM', from);
    copyUp(this.copyEnv, src);
    const node = this.place(to, src.type, (t) => fs.linkSync(this.tree.upperPath(src), t), false);
    node.ino = src.ino;
  }

  unlink(p: string): void {
    this.writable(p);
    if (p === '/') fail('EISDIR', p);
    const [dir, name] = splitPath(p);
    this.unlinkAt(this.tree.resolve(dir), name);
  }

  /**
   * unlink(2) of entry `name` of directory `dir`: the low-level transport's
   * form, which has the directory's node and no path. An rm -rf of 5k files
   * spent 30-40 ms of its server time building paths from node ids and
   * resolving them back (CPU profile).
   */
  unlinkAt(dir: Node, name: string): void {
    const node = this.entryToChange(dir, name);
    if (node.isDir) fail('EISDIR', node.path);
    this.remove(node);
  }

  rmdir(p: string): void {
    this.writable(p);
    if (p === '/') fail('EBUSY', p);
    const [dir, name] = splitPath(p);
    this.rmdirAt(this.tree.resolve(dir), name);
  }

  /** rmdir(2) of entry `name` of directory `dir` (see unlinkAt). */
  rmdirAt(dir: Node, name: string): void {
    const node = this.entryToChange(dir, name);
    if (!node.isDir) fail('ENOTDIR', node.path);
    if (this.tree.children(node).size > 0) fail('ENOTEMPTY', node.path);
    this.remove(node);
  }

  /** Entry `name` of directory `dir`, which a request is about to change: EROFS, ENOTDIR, ENOENT as a path would give. */
  private entryToChange(dir: Node, name: string): Node {
    const where = (): string => (dir.parent ? dir.path + '/' + name : '/' + name);
    if (this.readOnly) fail('EROFS', where());
    if (!dir.isDir) fail('ENOTDIR', where());
    const node = this.tree.children(dir).get(name);
    if (!node) fail(Buffer.byteLength(name) > NAME_MAX ? 'ENAMETOOLONG' : 'ENOENT', where());
    return node;
  }

  /**
   * The files of upper directory `dir` that are only in lower layers, when
   * removing any of them is a link of the shared whiteout there and nothing
   * else (what remove() does for them): the FUSE loop may then do it
   * itself (see adoptUnlinked). Null when it is more here: a read-only
   * overlay, aufs whiteouts, hard links being tracked, no shared whiteout
   * made yet.
   */
  unlinkableIn(dir: Node): { whiteout: string; names: string[] } | null {
    const whiteout = this.whiteouts.sharedPath;
    if (this.readOnly || this.format !== 'overlay' || this.links.size || !whiteout || !dir.isDir || !dir.upper || dir.removed) return null;
    const names: string[] = [];
    for (const [name, node] of this.tree.children(dir)) {
      if (!node.isDir && !node.upper && node.lower && node.lowerVisible && !node.removed) names.push(name);
    }
    return names.length ? { whiteout, names } : null;
  }

  /** The FUSE loop whited out lower file `name` of `dir` (see unlinkableIn): the tree follows, as after remove(). */
  adoptUnlinked(dir: Node, name: string): void {
    const node = this.tree.children(dir).get(name);
    if (!node || node.isDir || node.upper) throw new Error(`the loop whited out ${name} in ${dir.path}, which has no lower file of that name`);
    this.dropFromView(node);
  }

  /** Deletes `node` from the merged view: from the upper layer, plus a whiteout if a lower layer has the name. */
  private remove(node: Node): void {
    const parent = node.parent!;
    copyUp(this.copyEnv, parent);
    this.tree.children(parent);
    const upperDir = this.tree.upperPath(parent);
    const target = upperDir + '/' + node.name;
    if (node.upper) {
      if (node.isDir) {
        // Move the directory (with whatever whiteouts it holds) out of sight in one step.
        const tmp = this.tempName();
        if (node.lowerVisible && this.format === 'overlay') {
          try {
            renameat2(target, tmp, RENAME_WHITEOUT);
          } catch {
            fs.renameSync(target, tmp);
            this.whiteouts.make(target);
          }
        } else {
          fs.renameSync(target, tmp);
          if (node.lowerVisible) this.whiteouts.write(upperDir, node.name);
        }
        // Out of sight already: its whiteouts (rm -rf of a lower tree leaves
        // one per file) go to a background thread (src/remover.c), not in
        // the caller's rmdir (1.6 ms per 100-entry directory) nor on this
        // thread (fs.rm put a callback per entry here, between requests).
        // What a stopped server leaves there, the next mount clears with
        // the rest of the work area.
        if (!removeTree(tmp)) fs.rm(tmp, { recursive: true, force: true }, () => undefined);
      } else if (node.lowerVisible && this.format === 'overlay') {
        const tmp = this.tempName();
        this.whiteouts.make(tmp);
        fs.renameSync(tmp, target);
      } else {
        fs.unlinkSync(target);
        if (node.lowerVisible) this.whiteouts.write(upperDir, node.name);
      }
    } else {
      this.whiteouts.write(upperDir, node.name);
      this.lowerNameGone(node);
    }
    this.dropFromView(node);
  }

  /** The tree's side of a removal, once the layers show it (remove(), adoptUnlinked()). */
  private dropFromView(node: Node): void {
    const parent = node.parent!;
    removeChild(parent, node.name);
    if (node.lowerVisible) parent.upperWhiteouts!.add(node.name);
    node.removed = true;
  }

  /**
   * rename(2) / renameat2(2): `flags` may be RENAME_NOREPLACE or
   * RENAME_EXCHANGE (a transport that can carry them passes them on).
   */
  rename(from: string, to: string, flags = 0): void {
    this.writable(to);
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) fail('EINVAL', to);
    const src = this.tree.resolve(from);
    if (src === this.tree.root) fail('EBUSY', from);
    const [dir, name] = splitPath(to);
    const dstParent = this.tree.resolve(dir);
    if (!dstParent.isDir) fail('ENOTDIR', to);
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', to);
    const dst = this.tree.children(dstParent).get(name);
    if (flags & RENAME_NOREPLACE && dst) fail('EEXIST', to);
    if (flags & RENAME_EXCHANGE) return exchangeEntries(this.renameEnv, src, dstParent, name, dst, to);
    renameEntry(this.renameEnv, src, dstParent, name, dst, from, to);
  }

  /** Tells the hard-link index that a lower-only name of a multi-link file went away. */
  private lowerNameGone(node: Node): void {
    if (node.type !== S_IFREG || !node.lower || !this.links.size) return;
    const st = fs.lstatSync(this.layers.real(node.lower), { bigint: true });
    if (st.nlink > 1n) this.links.lowerNameGone(st);
  }

  /** Closes every open file descriptor. */
  close(): void {
    for (const h of this.handles.values()) fs.closeSync(h.fd);
    this.handles.clear();
    this.whiteouts.close();
  }
}

function isOverlayWhiteoutAt(p: string): boolean {
  try {
    return isWhiteoutStat(fs.lstatSync(p));
  } catch {
    return false;
  }
}

