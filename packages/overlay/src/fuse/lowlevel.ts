// The native transport: FUSE's low-level protocol over strata's own
// /dev/fuse loop (@strata/native/fusell). The kernel addresses inodes by
// node id, the engine by merged path: this file keeps the node id -> Node
// table (node id = the merged inode number, so hard links are one kernel
// inode; LOOKUP and READDIRPLUS entries count up, FORGET counts down) and
// turns each request into an engine call and its reply into protocol bytes.
//
// File data never comes here. With FUSE passthrough (root, kernel 6.9+) an
// open file is backed by the host file itself: the kernel reads and writes
// it without asking. Otherwise the loop serves READ/WRITE in C with pread/
// pwrite on the host fd, which is why the handle the kernel holds (fh) is
// the host fd. Lower layers never change while mounted and every change
// goes through this server, so entries, attributes and directory listings
// are cached by the kernel for long.
import fs from 'node:fs';
import path from 'node:path';
import * as ll from '@strata/native/fusell';
import { fstatArray, listAhead, listAheadCancel, listAheadSkip, removerWatch } from '@strata/native';
import { StrataError } from '@strata/common';
import { toErrno } from '../core/errno.ts';
import type { Caller, Overlay, StatArray } from '../core/overlay.ts';
import { ROOT_INO } from '../core/inodes.ts';
import { Node, S_IFDIR, S_IFMT, S_IFREG } from '../core/tree.ts';
import { unmountPath } from '../unmount.ts';
import { SCRATCH_FILES } from '../core/warmup.ts';
import { dirCacheFile } from './dircache.ts';
import { OpStats } from './stats.ts';
import type { FuseServer, TransportOptions } from './transport.ts';

/** Requests the loop forwards here, by opcode. */
const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, CREATE: 35, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45,
} as const;
const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k.toLowerCase()]));

/** How long the kernel may trust entries and attributes by default (s): nothing changes behind its back. */
const TTL = 86400;
const FOPEN_DIRECT_IO = 1;
const FOPEN_KEEP_CACHE = 2;
const FOPEN_PASSTHROUGH = 128;
const FUSE_GETATTR_FH = 1;
const FATTR = { MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128, MTIME_NOW: 256, KILL_SUIDGID: 2048 };
/** fuse_open_in.open_flags: an O_TRUNC open by a caller without CAP_FSETID (FUSE_HANDLE_KILLPRIV_V2). */
const FUSE_OPEN_KILL_SUIDGID = 1;
const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;
const FUSE_UNKNOWN_INO = 0xffffffff;
const ENTRY_OUT = 128;
/** An all-zero fuse_entry_out: a READDIRPLUS entry without attributes (the kernel looks it up when needed). */
const NO_ENTRY = new Uint8Array(ENTRY_OUT);
const ATTR_OUT = 104;
const O_ACCMODE = 3;
const ERANGE = -34;

interface Inode {
  /** The name that serves path-based engine calls. */
  node: Node;
  nlookup: number;
  /** Hard links: every name the kernel looked up for this inode (a change through one is copied up under each). */
  names?: Set<Node>;
  /** `node` came from a listing, not a lookup: it is not one of `names` until looked up. */
  listed?: boolean;
  /**
   * Hard links: other names a listing gave the kernel (as nodes, or by
   * parent node id and name). A listing is no sign the program uses a name
   * (kernel overlayfs copies up the name used), so a change does not copy
   * them up; the copy serves them (HardLinks), and they stand in for `node`
   * once it is removed.
   */
  aliases?: Array<Node | { parent: number; name: string }>;
  /** Handed to the loop in prepared entries: it may give the id out again, so the entry stays at no reference. */
  prepared?: boolean;
}

/** A host file registered with the kernel as the backing of one node's open files. */
interface Backing {
  id: number;
  refs: number;
  /** "dev:ino" of the host file: a copy-up changes it. */
  key: string;
  rw: boolean;
  /** An O_RDWR reopen made for the backing, closed with it. */
  ownFd?: number;
}

interface OpenFile {
  /** The engine's handle. */
  fh: number;
  fd: number;
  nodeid: number;
  backing?: Backing;
  /** Page-cached (not passed through): data via the loop. */
  cached: boolean;
}

class Errno extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/**
 * A DataView over `b`'s bytes. Replies and the loop's records are written and
 * read through one: DataView's accessors are built into V8, where Buffer's
 * writeUInt32LE is JavaScript that checks its arguments. A new server's
 * first 100 attribute replies took 4.3-5.8 ms with Buffer's and 0.6 ms with
 * DataView's, and once compiled 250 against 120 ns each (node, by hand).
 */
function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function set64(d: DataView, off: number, v: number): void {
  d.setUint32(off, v >>> 0, true);
  d.setUint32(off + 4, Math.floor(v / 4294967296) >>> 0, true);
}

/** The u64 at `off` (node ids, offsets and sizes stay below 2^53). */
function get64(d: DataView, off: number): number {
  return d.getUint32(off, true) + d.getUint32(off + 4, true) * 4294967296;
}

/** The same, read once from a request's body (no view made for one read). */
function r64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 4294967296;
}

/** fuse_attr (88 bytes) at `off` from the engine's stat array. */
function writeAttr(d: DataView, off: number, st: StatArray): void {
  set64(d, off, st[6]!);
  set64(d, off + 8, st[3]!);
  set64(d, off + 16, st[9]!);
  set64(d, off + 24, Math.max(0, st[10]!));
  set64(d, off + 32, Math.max(0, st[12]!));
  set64(d, off + 40, Math.max(0, st[14]!));
  d.setUint32(off + 48, st[11]!, true);
  d.setUint32(off + 52, st[13]!, true);
  d.setUint32(off + 56, st[15]!, true);
  d.setUint32(off + 60, st[0]!, true);
  d.setUint32(off + 64, st[5]!, true);
  d.setUint32(off + 68, st[1]!, true);
  d.setUint32(off + 72, st[2]!, true);
  d.setUint32(off + 76, st[7]! >>> 0, true);
  d.setUint32(off + 80, st[8]!, true);
  d.setUint32(off + 84, 0, true);
}

/** Seconds the kernel may cache names (and negative lookups) and attributes. */
interface Timeouts {
  entry: number;
  attr: number;
}

/** The nanoseconds part of a timeout in seconds. */
function nsec(seconds: number): number {
  return Math.min(999999999, Math.round((seconds - Math.floor(seconds)) * 1e9));
}

/** Bytes of the fixed part of a record of an entry the loop listed (struct listed_rec in fuse_ll.c). */
const LISTED_REC = 36;
/** Bytes of the fixed part of a record of a file the loop made (struct created_rec in fuse_ll.c). */
const CREATED_REC = 42;
/** Bytes of the fixed part of a record of a lower file the loop whited out (struct unlinked_rec in fuse_ll.c). */
const UNLINKED_REC = 10;

/** Names as the loop takes them: [u16 LE length][UTF-8 name] each. */
function nameRecords(names: Iterable<string>): Buffer {
  const list = [...names];
  let bytes = 0;
  for (const name of list) bytes += 2 + Buffer.byteLength(name);
  const out = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (const name of list) {
    const n = out.write(name, pos + 2, 'utf8'); // (a length argument past the buffer's end throws)
    out.writeUInt16LE(n, pos);
    pos += 2 + n;
  }
  return out;
}

/** fuse_entry_out (128 bytes) at `off`; nodeid 0 with no attributes is a cacheable "no such entry". */
function writeEntry(d: DataView, off: number, nodeid: number, st: StatArray | null, ttl: Timeouts): void {
  set64(d, off, nodeid);
  set64(d, off + 8, 0);
  set64(d, off + 16, Math.floor(ttl.entry));
  set64(d, off + 24, st ? Math.floor(ttl.attr) : 0);
  d.setUint32(off + 32, nsec(ttl.entry), true);
  d.setUint32(off + 36, st ? nsec(ttl.attr) : 0, true);
  if (st) writeAttr(d, off + 40, st);
  else for (let z = off + 40; z < off + 128; z += 8) d.setFloat64(z, 0);
}

function cstr(b: Buffer, start: number): [string, number] {
  let end = b.indexOf(0, start);
  if (end === -1) end = b.length;
  return [b.toString('utf8', start, end), end + 1];
}

function join(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name;
}

function direntType(mode: number): number {
  return (mode & S_IFMT) >>> 12;
}

/**
 * The flags the host file is opened with: a write-only open is made
 * read-write, so its fd can back later readers of the same inode too (the
 * kernel still enforces the caller's access mode on its own file).
 */
function hostFlags(flags: number): number {
  return (flags & O_ACCMODE) === fs.constants.O_WRONLY ? (flags & ~O_ACCMODE) | fs.constants.O_RDWR : flags;
}

/**
 * The mode a write or truncation by a caller without CAP_FSETID leaves
 * (the loop negotiates FUSE_HANDLE_KILLPRIV_V2, so the kernel leaves this
 * to us): no set-user-ID, and no set-group-ID where group execute is on or
 * the caller is not of the file's group (its primary group: the request
 * does not carry the others). As kill_suidgid in the loop.
 */
function killedMode(st: StatArray, caller: Caller): number {
  let m = st[0]! & 0o7777 & ~0o4000;
  if (st[0]! & 0o010 || st[2] !== caller.gid) m &= ~0o2000;
  return m;
}

const SET_ID = 0o6000;

/** One FUSE session's node table and open files, and the request handler over them. */
interface Session {
  /** Answers one request: the payload (undefined: empty; null: no reply); throws errno-shaped errors. */
  handle(op: number, nodeid: number, caller: Caller, b: Buffer): Buffer | undefined | null;
  /** Binds the session to its /dev/fuse fd and absolute mountpoint (none: nothing is listed ahead), and says whether the kernel took passthrough. */
  attach(devFd: number, withPassthrough: boolean, mountpoint?: string): void;
  /** The loop answered LOOKUPs from prepared entries: one u64 node id per answer, each a kernel reference. */
  looked(ids: Buffer): void;
  /** The loop listed directories itself: one record per entry given (see fuse_ll.c, struct listed_rec). */
  listed(records: Buffer): void;
  /** The loop answered CREATEs itself: one record per file (see fuse_ll.c, struct created_rec). */
  created(records: Buffer): void;
  /** The loop whited out lower files itself: one record per name (see fuse_ll.c, struct unlinked_rec). */
  unlinked(records: Buffer): void;
  /** The loop answered RELEASEs itself: one u64 file handle each, to close. */
  released(handles: Buffer): void;
  /** The loop handed out listings to their end: one u64 node id per directory (see `ended`). */
  ended(ids: Buffer): void;
}

function createSession(overlay: Overlay, ttl: Timeouts, lowerPassthrough = true): Session {
  const inodes = new Map<number, Inode>([[ROOT_INO, { node: overlay.tree.root, nlookup: 1 }]]);
  const files = new Map<number, OpenFile>();
  /** Node id -> an open of it made for writing: fchmod/fchown/futimens arrive without a handle, and go through its fd. */
  const writers = new Map<number, OpenFile>();
  const backings = new Map<number, Backing>();
  // Readers follow a file's copy-up (Overlay.readersFollow), but one passed
  // through to the lower file reads it in the kernel, whatever its descriptor
  // here names: it keeps the lower file (see openReply).
  overlay.followsCopyUp = (fd) => !files.get(fd)?.backing;
  /** Node id -> how many of its opens are page cached (they rule out passthrough for it). */
  const cachedOpens = new Map<number, number>();
  /** Directories whose files the kernel looked up one by one: READDIRPLUS includes their files' attributes. */
  const fileAttrDirs = new Set<number>();
  /** Their parents: READDIRPLUS of a sibling includes its files' attributes too (rm -rf, du, chown -R go on to it). */
  const fileAttrParents = new Set<number>();
  /**
   * Nodes whose attributes the kernel must not keep: set-ID files written
   * through a passthrough backing, whose writes the host file system may
   * strip of the bits without anyone telling the kernel (see backing_open
   * in the loop). Until the backing goes, every stat asks again.
   */
  const volatileAttrs = new Set<number>();
  /**
   * Directories whose entries were prepared (ll.prepareEntries): the
   * loop's tree generation then (ll.generation), and how many of its
   * entries the loop has handed out since. One whose entries went unused is
   * not prepared again after the tree changes (each time costs a stat of
   * every entry): lookups in it are answered here.
   */
  const preparedDirs = new Map<number, { gen: number; used: number }>();
  let passthrough = false;
  /** Directories whose listing ended have their attributes fetched again when the loops are quiet (see `ended`). */
  const refreshing = process.env.STRATA_FUSE_REFRESH !== '0';
  /** Where the session is mounted (absolute), for listAheadSiblings. */
  let mountpoint: string | undefined;
  /** Parents whose subdirectories were listed ahead through the mount, and those subdirectories. */
  const listedAhead = new WeakSet<Node>();
  const listQueued = new WeakSet<Node>();
  /** The session's /dev/fuse fd: names the session in every call to the loop. */
  let dev = -1;
  const scratch = Buffer.alloc(ENTRY_OUT + 16);
  const scratchView = viewOf(scratch);
  /** Attributes of one file at a time, written into a reply at once (overlay.statNode's `into`). */
  const statScratch = new Float64Array(16);

  /**
   * Entries the loop listed (ItemKind.Listed) that the engine has not
   * needed yet: node id -> where (parent node id, name) and the kernel's
   * references. Most are never asked about again (a walk's files are stat'ed
   * from the kernel's cache): known() makes one a node when it is.
   */
  const pending = new Map<number, { parent: number; name: string; nlookup: number }>();
  /**
   * The same, by "parent id/name": a name about to be removed or renamed is
   * taken in first (settle). Only settle() reads it, so it is brought up to
   * date there (indexPending), not as entries arrive: a cold walk's 10k
   * listed files cost 8-20 ms of string keys and map growth here, on the
   * loop's thread, for a map no walk reads.
   */
  const pendingNames = new Map<string, number>();
  /** Ids put in `pending` since pendingNames was last brought up to date. */
  let unindexed: number[] = [];
  const pendingKey = (parent: number, name: string): string => `${parent}/${name}`;
  const indexPending = (): void => {
    for (const id of unindexed) {
      const p = pending.get(id);
      if (p) pendingNames.set(pendingKey(p.parent, p.name), id);
    }
    unindexed = [];
  };
  const addPending = (id: number, p: { parent: number; name: string; nlookup: number }): void => {
    pending.set(id, p);
    unindexed.push(id);
    if (unindexed.length > 65536) indexPending(); // (bounded: ids forgotten before a settle stay listed here until then)
  };
  /** Drops pending entry `id` (if its name still leads to it in pendingNames, that too). */
  const dropPending = (id: number, p: { parent: number; name: string }): void => {
    pending.delete(id);
    if (!pendingNames.size) return;
    const k = pendingKey(p.parent, p.name);
    if (pendingNames.get(k) === id) pendingNames.delete(k);
  };
  /** The entry of node id `id`, taking in one the loop listed. */
  const known = (id: number): Inode | undefined => {
    const e = inodes.get(id);
    if (e) return e;
    const p = pending.get(id);
    if (!p) return undefined;
    dropPending(id, p);
    const dir = known(p.parent)?.node;
    const child = dir?.isDir && !dir.removed ? overlay.tree.children(dir).get(p.name) : undefined;
    if (!child) return undefined;
    if (!child.ino) child.ino = id;
    const adopted: Inode = { node: child, nlookup: p.nlookup, listed: true };
    inodes.set(id, adopted);
    return adopted;
  };

  /**
   * Name `name` of directory `parent` is about to go or move: if the loop
   * listed it and the engine has not taken it in yet, now, while the name
   * still leads to it (the kernel may go on using its node id).
   */
  const settle = (parent: number, name: string): void => {
    if (unindexed.length) indexPending();
    const id = pendingNames.get(pendingKey(parent, name));
    if (id !== undefined) known(id);
  };

  const inodeOf = (nodeid: number): Inode => {
    const e = known(nodeid);
    if (!e) throw new Errno(-116); // ESTALE: the kernel asked about a node id it was never given
    return e;
  };
  /** The live node of a node id (another name of a hard link if this one went). */
  const nodeOf = (nodeid: number): Node => {
    const e = inodeOf(nodeid);
    if (e.node.removed && e.names) {
      for (const n of e.names) {
        if (!n.removed) {
          e.node = n;
          break;
        }
      }
    }
    if (e.node.removed && e.aliases) {
      for (const a of e.aliases) {
        const n = a instanceof Node ? a : childOf(a.parent, a.name);
        // (a name only listed has no number until it is first stat'ed)
        if (n && !n.removed && (n.ino || overlay.statNode(n)[6]) === nodeid) {
          e.node = n;
          break;
        }
      }
    }
    if (e.node.removed) throw new Errno(-2);
    return e.node;
  };
  /** Entry `name` of directory node id `parent`, if both are there. */
  const childOf = (parent: number, name: string): Node | undefined => {
    const dir = known(parent)?.node;
    return dir?.isDir && !dir.removed ? overlay.tree.children(dir).get(name) : undefined;
  };
  const pathOf = (nodeid: number): string => nodeOf(nodeid).path;

  /**
   * Before an inode with several names is changed: the kernel does not say
   * through which name, so every known name is copied up (the engine links
   * later copies to the first), as kernel overlayfs would have done for the
   * name used. The upper layer then holds the change under every name.
   */
  const copyUpNames = (nodeid: number): void => {
    const e = known(nodeid);
    if (!e?.names || overlay.readOnly) return;
    for (const n of e.names) {
      if (n.removed) e.names.delete(n);
      else if (!n.upper && (n.type & S_IFMT) === S_IFREG) overlay.release(overlay.open(n.path, fs.constants.O_WRONLY));
    }
  };
  const childPath = (parent: number, name: string): string => join(pathOf(parent), name);

  /**
   * Nodes the kernel knows under a new node id (not their inode number):
   * copied up while readers still had the lower file open (see openReply).
   */
  const renumbered = new Map<Node, number>();
  let nextRenumber = 2 ** 40;

  /** Counts one kernel reference to the node that `st` describes. */
  const remember = (node: Node, st: StatArray, listing = false): number => {
    const id = renumbered.get(node) ?? st[6]!;
    const e = known(id);
    if (!e) inodes.set(id, listing ? { node, nlookup: 1, listed: true } : { node, nlookup: 1 });
    else {
      e.nlookup++;
      if (e.node === node) {
        if (!listing) e.listed = false;
      } else if (listing) {
        (e.aliases ??= []).push(node);
      } else {
        // another name of a hard-linked file looked up: a change through one is the engine's to spread
        if (!e.names) ll.writerFile(dev, id, -1, 0, 0, 0);
        e.names ??= new Set(e.listed ? [] : [e.node]);
        if (e.listed) (e.aliases ??= []).push(e.node);
        e.names.add(node);
        e.node = node;
        e.listed = false;
      }
    }
    return id;
  };

  const forget = (nodeid: number, n: number): void => {
    if (nodeid === ROOT_INO) return;
    const e = inodes.get(nodeid);
    if (!e) {
      const p = pending.get(nodeid);
      if (p && (p.nlookup -= n) <= 0) dropPending(nodeid, p);
      return;
    }
    e.nlookup -= n;
    if (e.nlookup <= 0) {
      ll.noCaps(dev, nodeid, false); // the number may come back as another file
      if (e.prepared) {
        e.nlookup = 0; // the loop may hand it out again
        return;
      }
      inodes.delete(nodeid);
      fileAttrDirs.delete(nodeid);
      fileAttrParents.delete(nodeid);
      preparedDirs.delete(nodeid);
    }
  };

  /** Most entries a directory may have for its entries to be prepared (a bigger one is looked up here). */
  const PREPARE_MAX = 4096;
  /** Up to this many, at the first file lookup; beyond it, at the second (one lookup may be all there is). */
  const PREPARE_AT_ONCE = 256;
  /** Entries of a prepared directory the loop must have handed out for it to be prepared again. */
  const PREPARE_AGAIN = 16;

  /**
   * Entries prepared at a time. A directory of a lower layer is prepared a
   * slice now and the rest a slice per turn of the event loop, so that the
   * lookup that asked (and any that come meanwhile) waits for one slice at
   * most: prepared whole, the second stat in a directory of 1000 files took
   * 21-31 ms, in one of 4000 93-116 ms; in slices 7-20 and 7-22 ms (by
   * hand, a fresh mount each: the rest is the read-ahead threads that the
   * first lookup started, on the same two CPUs).
   */
  const PREPARE_SLICE = 128;
  // [u16 name length][name][fuse_entry_out] each; a name is at most 255 bytes (NAME_MAX) on the host.
  const prepareOut = Buffer.allocUnsafe(PREPARE_SLICE * (2 + 255 + ENTRY_OUT));
  const prepareView = viewOf(prepareOut);

  /**
   * Hands the loop the LOOKUP answers for the files of `dir` (still only in
   * lower layers), whose files are being looked up one by one: it answers
   * the rest itself (ll.prepareEntries). Directories, nodes that have
   * another number, and a second name of an inode already known under
   * another one stay here.
   */
  const prepareEntries = (dirId: number, dir: Node): void => {
    const gen = ll.generation(dev);
    const mark = { gen, used: 0 };
    preparedDirs.set(dirId, mark);
    const children = overlay.tree.children(dir);
    if (children.size > PREPARE_MAX) return;
    const rest = children.entries();
    if (dir.upper) {
      // Copied up by an rm -rf's first removal (see UNLINK): all at once,
      // for the loop whites out names here itself, and a later slice could
      // hand it back a name it removed.
      while (prepareSlice(dirId, rest));
      return;
    }
    // The loop changes nothing in a directory only in lower layers (it looks
    // names up there and lists it): what a later slice reads is what the
    // directory holds, unless JavaScript changed the tree in between.
    const more = (): void => {
      if (preparedDirs.get(dirId) !== mark || dir.upper || dir.children !== children || ll.generation(dev) !== gen || !prepareSlice(dirId, rest)) {
        if (slicing.get(dirId) === more) slicing.delete(dirId);
        return;
      }
      setImmediate(more);
    };
    if (!prepareSlice(dirId, rest)) return;
    slicing.set(dirId, more);
    setImmediate(more);
  };
  /**
   * Directories whose preparation is under way: the next slice of each. A
   * lookup there that reaches JavaScript takes one slice on first: a program
   * going through the directory keeps the loop busy, and the turns of the
   * event loop that take the slices otherwise come only when it pauses.
   */
  const slicing = new Map<number, () => void>();

  /** Prepares the next PREPARE_SLICE entries of `rest` (see prepareEntries): false once none are left. */
  const prepareSlice = (dirId: number, rest: Iterator<[string, Node]>): boolean => {
    const out = prepareOut;
    let pos = 0;
    let next = rest.next();
    for (let taken = 0; !next.done; next = rest.next()) {
      const [name, child] = next.value;
      if (child.isDir || child.upper || child.removed || renumbered.has(child)) continue;
      let st: StatArray;
      try {
        st = overlay.statNode(child, statScratch);
      } catch {
        continue;
      }
      const id = st[6]!;
      const e = known(id);
      // One name per node id here: a hard link's other names are the engine's to learn of (remember()).
      if (e && e.node !== child) continue;
      if (e) e.prepared = true;
      else inodes.set(id, { node: child, nlookup: 0, prepared: true });
      const n = out.write(name, pos + 2, 255, 'utf8');
      out.writeUInt16LE(n, pos);
      writeEntry(prepareView, pos + 2 + n, id, st, ttl);
      pos += 2 + n + ENTRY_OUT;
      if (++taken === PREPARE_SLICE) break;
    }
    if (pos) ll.prepareEntries(dev, dirId, out.subarray(0, pos));
    return !next.done;
  };

  /** Most directories (with their subdirectories, each counted once) queued to be listed ahead at once. */
  const LIST_AHEAD_MAX = 256;

  /**
   * The files of a second directory under one parent, still only in lower
   * layers, are being looked up one by one (after the first, whose siblings'
   * inodes are being read ahead): a walk that stats files is going through
   * the parent's subdirectories, and likely on through its siblings'. Those
   * are listed through the mount ahead of it (listAhead): the rest of the
   * parent's subdirectories, then each sibling of the parent with its
   * subdirectories. Their READDIRPLUS replies carry the files' attributes
   * (fileAttrParents), so the kernel gets every file's dentry and the walk's
   * stats there need no LOOKUP. Where the walk gets first, the listing skips
   * (listAheadSkip). By hand (10k lower files, 100 per directory, two levels
   * deep, cold caches, fresh mount): see packages/overlay/README.md.
   */
  const listAheadSiblings = (dir: Node): void => {
    const parent = dir.parent;
    if (!mountpoint || !parent?.children || listedAhead.has(parent)) return;
    listedAhead.add(parent);
    const dirs: string[] = [];
    const inos: number[] = [];
    const queue = (d: Node, deep: boolean): void => {
      // (Not the root: every path starts there, it is always known.)
      if (!d.parent || !d.isDir || d.upper || d.removed || renumbered.has(d) || listQueued.has(d) || dirs.length >= LIST_AHEAD_MAX) return;
      let st: StatArray;
      try {
        st = overlay.statNode(d);
      } catch {
        return;
      }
      if (fileAttrDirs.has(st[6]!)) return; // walked already
      listQueued.add(d);
      if (deep) {
        fileAttrParents.add(st[6]!); // its subdirectories' listings carry their files' attributes
        listedAhead.add(d);
      }
      offerListable(st[6]!, d);
      dirs.push((deep ? '+' : '') + d.path.slice(1));
      inos.push(st[6]!);
    };
    // The parent and grandparent first: their listings give the kernel the
    // dentries of the directories below, which then need no LOOKUP each.
    queue(parent, false);
    if (parent.parent) queue(parent.parent, false);
    for (const sib of parent.children.values()) if (sib !== dir) queue(sib, false);
    const uncles = parent.parent?.children;
    if (uncles && uncles.size <= LIST_AHEAD_MAX) for (const u of uncles.values()) if (u !== parent) queue(u, true);
    if (dirs.length) listAhead(mountpoint, dirs, inos);
  };

  /** Entry reply for `name` in directory `parent` (after a lookup or a create). */
  const entryFor = (parent: number, name: string): Buffer => {
    const dir = inodeOf(parent).node;
    if (!dir.isDir) throw new Errno(-20);
    const child = overlay.tree.lookup(dir, name);
    if (!child) {
      if (Buffer.byteLength(name) > 255) throw new Errno(-36);
      try {
        offerComplete(parent, dir);
      } catch {
        // Only a shortcut for the next lookups: this one's answer stands.
      }
      writeEntry(scratchView, 0, 0, null, ttl);
      return scratch.subarray(0, ENTRY_OUT);
    }
    const st = overlay.statNode(child, statScratch);
    const id = remember(child, st);
    writeEntry(scratchView, 0, id, st, volatileAttrs.has(id) ? { entry: ttl.entry, attr: 0 } : ttl);
    offerStable(id, child, st);
    offerListable(id, child);
    return scratch.subarray(0, ENTRY_OUT);
  };

  /** Most names a directory may have for the loop to take them (its own limit, CDIR_NAMES_MAX). */
  const COMPLETE_MAX = 1 << 20;
  /** How often each directory's names went to the loop (offerComplete). */
  const completeOffers = new WeakMap<Node, number>();

  /**
   * A directory with no lower parts, where a name was just looked up in
   * vain: the loop gets all its names, and answers the next lookups of names
   * it does not have itself (ll.completeDir; a directory being filled looks
   * up every name before making it). Offered again only while that is cheap
   * (the loop drops a set whose slot another directory takes).
   */
  const offerComplete = (id: number, dir: Node): void => {
    if (!dir.upper || dir.lowerDirs.length > 0 || dir.removed) return;
    const children = overlay.tree.children(dir);
    const offers = completeOffers.get(dir) ?? 0;
    if ((offers >= 4 && children.size > 256) || children.size > COMPLETE_MAX) return;
    completeOffers.set(dir, offers + 1);
    // Files the loop may make itself: no whiteouts to replace, and passed through (what JavaScript would do).
    const creatable = passthrough && !overlay.readOnly && !dir.upperWhiteouts?.size;
    if (creatable) topUpIds();
    ll.completeDir(dev, id, nameRecords(children.keys()), Math.floor(ttl.entry), nsec(ttl.entry), creatable);
  };

  /**
   * A directory just made here: a program fills it next (tar, cp -r, a
   * build's output tree), and its first lookup, create and GETATTR there
   * were each a trip here before the loop knew the directory (3 of the 4
   * JavaScript requests per directory of an untar). The loop gets its names
   * (none) and its upper directory now.
   */
  const offerNewDir = (id: number): void => {
    const node = known(id)?.node;
    if (!node?.isDir) return;
    try {
      offerUpperDir(id, node, node.ino);
      offerComplete(id, node);
    } catch {
      // Only a shortcut: the requests go the long way.
    }
  };

  /**
   * Directories whose last unlinkable offer the loop has not used yet. A
   * program that removes lower files and makes others between (tar over a
   * lower tree, a package upgrade) ends each set at once: without this,
   * every removal there listed the directory and opened it again for
   * nothing. Offered again once the loop has used the last offer.
   */
  const unusedUnlinkable = new WeakSet<Node>();

  /**
   * A file only in lower layers was just removed from upper directory
   * `dir`, the way an rm -rf of a lower tree removes one after another: the
   * loop whites out the directory's other lower files itself from now on
   * (ll.unlinkable, Overlay.unlinkableIn).
   */
  const offerUnlinkable = (id: number, dir: Node): boolean => {
    if (unusedUnlinkable.has(dir)) return false;
    const u = overlay.unlinkableIn(dir);
    if (!u) return false;
    let fd: number;
    try {
      fd = fs.openSync(overlay.tree.upperPath(dir), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    ll.unlinkable(dev, id, fd, u.whiteout, nameRecords(u.names));
    unusedUnlinkable.add(dir);
    return true;
  };

  /** Most layers a directory may merge for the loop to list it (LDIR_SOURCES in fuse_ll.c). */
  const LIST_SOURCES_MAX = 64;
  /** Whether the loop lists directories itself (offerListable); STRATA_FUSE_C_LIST=0: never, for comparison. */
  const listInLoop = process.env.STRATA_FUSE_C_LIST !== '0';
  /** Node ids set aside for the files the loop makes (ll.reserveIds): the next it will give, and the block's end. */
  let idsNext = 0;
  let idsEnd = 0;
  const ID_BLOCK = 4096;
  const topUpIds = (): void => {
    if (idsEnd - idsNext >= ID_BLOCK / 4) return;
    idsNext = overlay.inodes.reserve(ID_BLOCK);
    idsEnd = idsNext + ID_BLOCK;
    ll.reserveIds(dev, idsNext, ID_BLOCK);
  };

  /**
   * A directory still only in lower layers (of at most 64): the loop lists
   * it (ll.listable), and the subdirectories it hands out, as this session
   * would, with the same choice of whose attributes go along.
   */
  const offerListable = (id: number, node: Node): void => {
    const n = node.lowerDirs.length;
    if (!listInLoop || !node.isDir || node.upper || node.removed || n === 0 || n > LIST_SOURCES_MAX || id !== node.ino || renumbered.has(node)) return;
    const parent = node.parent?.ino ?? ROOT_INO;
    let flags = node.lowerDirs[n - 1]!.layer < overlay.layers.roots.length - 1 ? ll.LIST_MARKS : 0;
    if (fileAttrDirs.has(id) || fileAttrParents.has(parent)) flags |= ll.LIST_FILES;
    if (fileAttrParents.has(id)) flags |= ll.LIST_CHILD_FILES;
    let paths = '';
    for (const src of node.lowerDirs) paths += overlay.layers.real(src) + '\0';
    ll.listable(dev, id, parent, paths, flags);
  };

  /** A directory of the upper layer: the loop answers its GETATTRs with an fstat of it from now on (ll.upperDir). */
  const offerUpperDir = (id: number, node: Node, ino: number): void => {
    if (!node.isDir || !node.upper || node.removed || ino !== id) return;
    let fd: number;
    try {
      fd = fs.openSync(overlay.tree.upperPath(node), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch {
      return;
    }
    ll.upperDir(dev, id, fd, node.lowerDirs.length > 0, Math.floor(ttl.attr), nsec(ttl.attr));
  };

  /**
   * A file just opened for writing in the upper layer, under one name with
   * one link: the loop answers its GETATTR, and SETATTR of its mode, owner
   * and times (what tar and cp -p send after writing), through the writer's
   * fd itself, as setattr() below would (ll.writerFile). Anything else about
   * the node stays here.
   */
  const offerWriter = (nodeid: number, file: OpenFile, host: StatArray): void => {
    const e = inodeOf(nodeid);
    const node = e.node;
    const ok = !e.names && !volatileAttrs.has(nodeid) && !node.removed && !!node.upper && node.type === S_IFREG && node.ino > 0 &&
      host[5] === 1 && (host[0]! & S_IFMT) === S_IFREG;
    ll.writerFile(dev, nodeid, ok ? file.fd : -1, node.ino, Math.floor(ttl.attr), nsec(ttl.attr));
  };

  /** A directory only in lower layers: the loop answers its GETATTRs itself from now on (ll.stableAttr). */
  const offerStable = (id: number, node: Node, st: StatArray): void => {
    if (node.isDir && !node.upper && st === node.lowerStat) ll.stableAttr(dev, id, attrReply(st));
  };

  /** What a GETATTR answered for `id` lets the loop answer the next ones itself (a lower-only or an upper directory). */
  const offerAttrs = (id: number, node: Node, st: StatArray): void => {
    offerStable(id, node, st);
    offerUpperDir(id, node, st[6]!);
  };

  /** A set-ID file with a passthrough backing (see volatileAttrs); the loop stops answering for it. */
  const setIdBehindBacking = (nodeid: number): void => {
    volatileAttrs.add(nodeid);
    ll.writerFile(dev, nodeid, -1, 0, 0, 0);
  };

  const attrReply = (st: StatArray, nodeid = 0): Buffer => {
    const b = Buffer.allocUnsafe(ATTR_OUT);
    const d = viewOf(b);
    const valid = volatileAttrs.has(nodeid) ? 0 : ttl.attr;
    set64(d, 0, Math.floor(valid));
    d.setUint32(8, nsec(valid), true);
    d.setUint32(12, 0, true);
    writeAttr(d, 16, st);
    return b;
  };

  /** Stat of an inode; a removed one (unlinked, still open) is stat'ed through an open handle. */
  const statInode = (nodeid: number, fh?: number): StatArray => {
    const e = inodeOf(nodeid);
    const f = fh !== undefined ? files.get(fh) : undefined;
    if (f) return overlay.fgetattr(f.fh, e.node.path);
    let node: Node;
    try {
      node = nodeOf(nodeid); // another live name of a hard link if this one went
    } catch (err) {
      for (const of of files.values()) if (of.nodeid === nodeid) return overlay.fgetattr(of.fh, '');
      throw err;
    }
    return overlay.statNode(node);
  };

  /**
   * The fuse_open_out for a freshly opened engine handle. The kernel wants
   * every open of an inode that has a backing file to be passed through to
   * that same backing, and no passthrough open while the inode has
   * page-cached opens. Upper files are passed through (one read-write
   * backing per inode, shared by its opens). Files still in a lower layer
   * get a read-only backing on the lower file (lower_passthrough, the
   * default); a write open that copies such a file up while its lower
   * backing is open cannot share that inode, so the name gets a new node id
   * and the open ESTALE: open(2) looks the name up again and opens the new
   * inode, passed through to the upper copy, while the old readers go on
   * reading the lower file (as under fuse-overlayfs, and overlayfs before
   * Linux 4.19). With lower_passthrough=off lower files are page cached
   * instead, data through the loop in C: a copy-up while such a reader is
   * open then gives the writer a cached open too (through the loop, to the
   * upper copy), and the reader sees what the writer wrote, as under kernel
   * overlayfs since 4.19.
   */
  const openReply = (nodeid: number, fh: number, flags: number, out: DataView, off: number): void => {
    const fd = overlay.fd(fh);
    const file: OpenFile = { fh, fd, nodeid, cached: true };
    let openFlags = FOPEN_KEEP_CACHE;
    let backingId = 0;
    // The host file: one fstat serves the backing decisions and offerWriter.
    const st = new Float64Array(16);
    fstatArray(fd, st);
    const mode = st[0]!;
    if (passthrough) {
      const acc = flags & O_ACCMODE;
      const key = `${st[4]}:${st[6]}`;
      let bk = backings.get(nodeid);
      if (bk) {
        if (bk.key !== key) {
          // Copied up since, while readers still have the lower file open
          // through the inode's backing (lower_passthrough), and an inode
          // takes only one backing. So the upper file becomes another kernel
          // inode: its name gets a new node id, and ESTALE makes the kernel
          // look the name up again and open that (open(2) retries a stale
          // path once, revalidating).
          renumbered.set(inodeOf(nodeid).node, nextRenumber++);
          throw new Errno(-116); // ESTALE
        } else if (!bk.rw && acc !== fs.constants.O_RDONLY) {
          throw new Errno(-26); // ETXTBSY: its backing could only be opened read-only (a running program)
        } else {
          bk.refs++;
          if (mode & SET_ID && bk.rw) setIdBehindBacking(nodeid);
        }
      } else if ((mode & S_IFMT) === S_IFREG && !cachedOpens.get(nodeid) && !(mode & SET_ID) &&
                 (inodeOf(nodeid).node.upper || lowerPassthrough || overlay.readOnly)) {
        // (A set-ID file is page cached instead: its writes come to the
        // loop, with the kernel's word on whether the writer keeps the bits.)
        bk = registerBacking(fd, acc, key, inodeOf(nodeid).node);
        if (bk) backings.set(nodeid, bk);
      }
      if (bk) {
        file.backing = bk;
        file.cached = false;
        openFlags = FOPEN_PASSTHROUGH;
        backingId = bk.id;
      }
    }
    if (file.cached) cachedOpens.set(nodeid, (cachedOpens.get(nodeid) ?? 0) + 1);
    files.set(fd, file);
    if ((flags & O_ACCMODE) !== fs.constants.O_RDONLY) {
      writers.set(nodeid, file);
      offerWriter(nodeid, file, st);
    }
    set64(out, off, fd);
    out.setUint32(off + 8, openFlags, true);
    out.setInt32(off + 12, backingId, true);
  };

  /** Registers a backing for a node; read-write where the host file is in the upper layer, so later writers can share it. */
  const registerBacking = (fd: number, acc: number, key: string, node: Node): Backing | undefined => {
    let use = fd;
    let ownFd: number | undefined;
    let rw = acc === fs.constants.O_RDWR;
    if (!rw && node.upper && !overlay.readOnly) {
      try {
        ownFd = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDWR);
        use = ownFd;
        rw = true;
      } catch {
        // e.g. ETXTBSY (a running executable): back it with the handle itself
      }
    }
    if (acc === fs.constants.O_WRONLY && !rw) return undefined;
    try {
      return { id: ll.backingOpen(dev, use), refs: 1, key, rw, ownFd };
    } catch {
      if (ownFd !== undefined) fs.closeSync(ownFd);
      return undefined;
    }
  };

  const release = (fd: number): void => {
    const f = files.get(fd);
    if (!f) return;
    files.delete(fd);
    if (writers.get(f.nodeid) === f) {
      writers.delete(f.nodeid);
      ll.writerFile(dev, f.nodeid, -1, 0, 0, 0);
    }
    overlay.release(f.fh);
    if (f.cached) {
      const n = (cachedOpens.get(f.nodeid) ?? 1) - 1;
      if (n > 0) cachedOpens.set(f.nodeid, n);
      else cachedOpens.delete(f.nodeid);
    }
    const bk = f.backing;
    if (bk && --bk.refs === 0) {
      backings.delete(f.nodeid);
      volatileAttrs.delete(f.nodeid);
      try {
        ll.backingClose(dev, bk.id);
      } catch {
        // the session is gone
      }
      if (bk.ownFd !== undefined) fs.closeSync(bk.ownFd);
    }
  };

  /**
   * Listing replies are built here, one buffer for all (the reply is written
   * before the next request is read): a walk's listings of up to 1 MiB each
   * made garbage enough for a fifth of a cold find's server time.
   */
  let listBuf = Buffer.allocUnsafe(64 * 1024);
  let listView = viewOf(listBuf);

  /**
   * The kernel holds `node`, a file still only in lower layers, under this
   * name (a lookup it has not forgotten): a READDIRPLUS entry need not carry
   * its attributes again. They cannot have changed, and an entry without
   * them (node id 0) leaves the kernel's dentry as it is. A program that
   * lists a directory twice (rm -rf opens each one twice) costs one stat of
   * each file, not two. Were the dentry gone after all, the kernel looks the
   * name up.
   */
  const held = (node: Node): boolean => {
    if (node.upper || node.isDir || !node.ino) return false;
    const e = inodes.get(node.ino);
    return e !== undefined && e.node === node && e.nlookup > 0 && !e.names && !renumbered.has(node);
  };

  /**
   * READDIR / READDIRPLUS of directory `nodeid` from offset `offset`. The
   * kernel opens directories without asking (no OPENDIR: fewer round trips
   * in a walk) and caches their listings; offsets are the entries' cookies,
   * which stay with an entry while it stays, so a listing resumed after
   * changes neither skips nor repeats what did not change. READDIRPLUS gives
   * attributes of subdirectories (a walk descends into them) but, to spare
   * a host stat per file, of files only in directories whose files were
   * looked up before.
   */
  const readdir = (nodeid: number, offset: number, size: number, plus: boolean): Buffer => {
    const dir = nodeOf(nodeid);
    if (!dir.isDir) throw new Errno(-20);
    const nodes = overlay.tree.listing(dir);
    // The first entry after `offset`: cookies increase along `nodes`.
    let lo = 0;
    let hi = nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (nodes[mid]!.cookie <= offset) lo = mid + 1;
      else hi = mid;
    }
    const withFiles = fileAttrDirs.has(nodeid) || (dir.parent !== null && fileAttrParents.has(dir.parent.ino));
    if (listBuf.length < size) {
      listBuf = Buffer.allocUnsafe(size);
      listView = viewOf(listBuf);
    }
    const out = listBuf;
    const view = listView;
    let pos = 0;
    // "." and ".." (cookies 1 and 2), then the entries.
    for (let i = offset < 2 ? offset - 2 : lo; i < nodes.length; i++) {
      const node = i < 0 ? null : nodes[i]!;
      const name = node ? node.name : i === -2 ? '.' : '..';
      const cookie = node ? node.cookie : i + 3;
      const nameLen = Buffer.byteLength(name);
      const dirent = (24 + nameLen + 7) & ~7;
      const rec = plus ? ENTRY_OUT + dirent : dirent;
      if (pos + rec > size) break;
      let ino = node ? node.ino || FUSE_UNKNOWN_INO : i === -2 ? dir.ino : dir.parent?.ino ?? ROOT_INO;
      let type = node ? direntType(node.type) : direntType(S_IFDIR);
      if (plus) {
        let st: StatArray | null = null;
        let childId = 0;
        if (node && !node.removed && (withFiles || node.type === S_IFDIR) && !held(node)) {
          try {
            st = overlay.statNode(node, statScratch);
          } catch {
            st = null;
          }
          if (st) {
            childId = remember(node, st, true);
            offerStable(childId, node, st);
            if (node.isDir) offerListable(childId, node);
            ino = st[6]!;
            type = direntType(st[0]!);
          }
        }
        if (st) writeEntry(view, pos, childId, st, ttl);
        else out.set(NO_ENTRY, pos);
        pos += ENTRY_OUT;
      }
      set64(view, pos, ino);
      set64(view, pos + 8, cookie);
      view.setUint32(pos + 16, nameLen, true);
      view.setUint32(pos + 20, type, true);
      out.write(name, pos + 24, 'utf8');
      for (let z = pos + 24 + nameLen; z < pos + dirent; z++) out[z] = 0;
      pos += dirent;
    }
    offerListable(nodeid, dir); // the rest of this listing too, if the loop may
    if (pos === 0 && offset > 0 && refreshing && dev >= 0) ll.listingEnded(dev, nodeid); // (see `ended`)
    return out.subarray(0, pos);
  };

  /** Where node `id` is, relative to the root ("." for it), or undefined when not known or gone. */
  const relPathOf = (id: number): string | undefined => {
    const names: string[] = [];
    for (let at = id; names.length < 4096;) {
      const e = inodes.get(at);
      if (e) {
        if (e.node.removed) return undefined;
        const base = e.node.path.slice(1);
        names.reverse();
        return base && names.length ? `${base}/${names.join('/')}` : base || names.join('/') || '.';
      }
      const p = pending.get(at);
      if (!p) return undefined;
      names.push(p.name);
      at = p.parent;
    }
    return undefined;
  };
  /**
   * Directories whose listing was handed out to its end, by the loop or
   * here (ll.listingEnded), node ids the loop hands over once it has been
   * quiet a moment: the kernel took their atime for stale (it does after
   * every listing), and its next stat of each (find's, entering it again;
   * ls -l; du) would be a GETATTR round trip. Their attributes are fetched
   * again through the mount now, while nobody waits (ll.refreshAttrs,
   * native/src/refresh.c). By hand (find over 20k files in 212 directories,
   * the second right after the first): see packages/overlay/README.md.
   * STRATA_FUSE_REFRESH=0 turns it off.
   */
  const ended = (ids: Buffer): void => {
    if (!refreshing || !mountpoint) return;
    const d = viewOf(ids);
    const dirs: string[] = [];
    for (let off = 0; off + 8 <= ids.length; off += 8) {
      const rel = relPathOf(get64(d, off));
      if (rel !== undefined) dirs.push(rel);
    }
    if (dirs.length) ll.refreshAttrs(mountpoint, dirs); // (the loops are quiet now: it starts at once)
  };

  const handle = (op: number, nodeid: number, caller: Caller, b: Buffer): Buffer | undefined | null => {
    switch (op) {
      case OP.LOOKUP: {
        const out = entryFor(nodeid, cstr(b, 0)[0]);
        if (out.readUInt32LE(0) !== 0 && (out.readUInt32LE(40 + 60) & S_IFMT) !== S_IFDIR) {
          // A file looked up: its siblings' turn comes next (stat, ls -l, an include search).
          const dir = inodeOf(nodeid).node;
          slicing.get(nodeid)?.();
          // A big directory answered a name at a time (Tree.lookup) is not
          // being walked yet: what follows (reading ahead its siblings,
          // listing them, preparing its entries) starts at the first file
          // lookup after it is read whole. With two sibling directories of
          // 4000 files, reading them ahead on the same two CPUs made the first
          // open and read of a file here take 11.6-16 ms against 3.6-3.9.
          if (!dir.children) return out;
          const again = fileAttrDirs.has(nodeid);
          if (!again) {
            fileAttrDirs.add(nodeid);
            offerListable(nodeid, dir);
            // The walk got here first: its lookups are answered below, a listing would repeat the work.
            if (listQueued.has(dir)) listAheadSkip(nodeid);
            if (dir.parent && !fileAttrParents.has(dir.parent.ino)) {
              fileAttrParents.add(dir.parent.ino);
              offerListable(dir.parent.ino, dir.parent);
              overlay.tree.statAheadSiblings(dir);
            } else if (!dir.upper) listAheadSiblings(dir);
          }
          const prepared = preparedDirs.get(nodeid);
          const worth = prepared ? prepared.gen !== ll.generation(dev) && prepared.used >= PREPARE_AGAIN : again || dir.children.size <= PREPARE_AT_ONCE;
          if (!dir.upper && worth) {
            // The loop answers the others.
            prepareEntries(nodeid, dir);
          } else if (!again) {
            // A big directory: its inodes are read ahead, and its entries prepared on the next lookup.
            overlay.tree.statAhead(dir);
          }
        }
        return out;
      }
      case OP.FORGET:
        forget(nodeid, r64(b, 0));
        return null; // no reply
      case OP.BATCH_FORGET: {
        const count = b.readUInt32LE(0);
        for (let i = 0, off = 8; i < count; i++, off += 16) {
          forget(r64(b, off), r64(b, off + 8));
        }
        return null;
      }
      case OP.GETATTR: {
        const withFh = (b.readUInt32LE(0) & FUSE_GETATTR_FH) !== 0;
        const st = statInode(nodeid, withFh ? b.readUInt32LE(8) : undefined);
        offerAttrs(nodeid, inodeOf(nodeid).node, st);
        return attrReply(st, nodeid);
      }
      case OP.SETATTR:
        return attrReply(setattr(nodeid, b, caller), nodeid);
      case OP.READLINK:
        return Buffer.from(overlay.readlink(pathOf(nodeid)));
      case OP.SYMLINK: {
        const [name, next] = cstr(b, 0);
        const [target] = cstr(b, next);
        overlay.symlink(target, childPath(nodeid, name), caller);
        return entryFor(nodeid, name);
      }
      case OP.MKNOD: {
        const [name] = cstr(b, 16);
        overlay.mknod(childPath(nodeid, name), b.readUInt32LE(0), b.readUInt32LE(4), caller);
        return entryFor(nodeid, name);
      }
      case OP.MKDIR: {
        const [name] = cstr(b, 8);
        overlay.mkdir(childPath(nodeid, name), b.readUInt32LE(0), caller);
        const out = entryFor(nodeid, name);
        offerNewDir(r64(out, 0));
        return out;
      }
      case OP.UNLINK: {
        const dir = nodeOf(nodeid);
        const name = cstr(b, 0)[0];
        settle(nodeid, name);
        // Removing, not walking (rm -rf looks each directory's files up first): nothing more to list ahead.
        if (mountpoint) listAheadCancel();
        const lowerFile = dir.isDir && overlay.tree.children(dir).get(name)?.upper === false;
        overlay.unlinkAt(dir, name);
        // The first removal here (it copied the directory up, and ended the
        // loop's lookup answers): the other files are still the lower ones,
        // so the loop answers their lookups again (rm -rf looks up each
        // before it removes it) as well as their removal.
        if (lowerFile && offerUnlinkable(nodeid, dir)) {
          if (preparedDirs.has(nodeid)) prepareEntries(nodeid, dir);
          offerUpperDir(nodeid, dir, dir.ino); // (copied up just now: its GETATTR comes next)
        }
        return undefined;
      }
      case OP.RMDIR: {
        const dir = nodeOf(nodeid);
        const name = cstr(b, 0)[0];
        settle(nodeid, name);
        const gone = overlay.tree.children(dir).get(name);
        overlay.rmdirAt(dir, name);
        // The loop holds on to the other upper directories (see FUSE_RMDIR there), not to this one,
        // nor answers for it as a lower directory any more.
        if (gone?.ino) {
          const goneId = renumbered.get(gone) ?? gone.ino;
          ll.upperDir(dev, goneId, -1, false, 0, 0);
          ll.listable(dev, goneId, 0, '', 0);
        }
        return undefined;
      }
      case OP.RENAME:
      case OP.RENAME2: {
        const newdir = r64(b, 0);
        const flags = op === OP.RENAME2 ? b.readUInt32LE(8) : 0;
        const [from, next] = cstr(b, op === OP.RENAME2 ? 16 : 8);
        const [to] = cstr(b, next);
        settle(nodeid, from);
        settle(newdir, to);
        overlay.rename(childPath(nodeid, from), childPath(newdir, to), flags); // the engine checks NOREPLACE/EXCHANGE
        return undefined;
      }
      case OP.LINK: {
        const old = r64(b, 0);
        const [name] = cstr(b, 8);
        overlay.link(pathOf(old), childPath(nodeid, name));
        return entryFor(nodeid, name);
      }
      case OP.OPEN: {
        const flags = b.readUInt32LE(0);
        const fh = overlay.open(pathOf(nodeid), hostFlags(flags));
        if ((flags & O_ACCMODE) !== fs.constants.O_RDONLY || flags & fs.constants.O_TRUNC) copyUpNames(nodeid);
        const out = Buffer.allocUnsafe(16);
        try {
          // The reply carries no attributes: the kernel is told the mode changed.
          if (flags & fs.constants.O_TRUNC && b.readUInt32LE(4) & FUSE_OPEN_KILL_SUIDGID && killSuidgid(nodeid, fh, caller)) ll.invalAttrs(dev, nodeid);
          openReply(nodeid, fh, hostFlags(flags), viewOf(out), 0);
        } catch (err) {
          overlay.release(fh);
          throw err;
        }
        return out;
      }
      case OP.CREATE: {
        const flags = b.readUInt32LE(0);
        const mode = b.readUInt32LE(4);
        const [name] = cstr(b, 16);
        const fh = overlay.create(childPath(nodeid, name), mode, hostFlags(flags), caller);
        const out = Buffer.allocUnsafe(ENTRY_OUT + 16);
        try {
          // Its attributes through the new handle: no second walk of the host path.
          const st = overlay.fgetattr(fh, '');
          const id = remember(overlay.tree.children(inodeOf(nodeid).node).get(name)!, st);
          const view = viewOf(out);
          writeEntry(view, 0, id, st, ttl);
          // A new file has no security.capability: the loop answers the kernel's per-write query itself.
          ll.noCaps(dev, id, true);
          openReply(id, fh, hostFlags(flags), view, ENTRY_OUT);
        } catch (err) {
          overlay.release(fh);
          throw err;
        }
        return out;
      }
      case OP.RELEASE:
        release(b.readUInt32LE(0));
        return undefined;
      case OP.STATFS: {
        const s = overlay.statfs();
        const out = Buffer.alloc(80);
        const d = viewOf(out);
        set64(d, 0, s.blocks);
        set64(d, 8, s.bfree);
        set64(d, 16, s.bavail);
        set64(d, 24, s.files);
        set64(d, 32, s.ffree);
        d.setUint32(40, s.bsize, true);
        d.setUint32(44, 255, true);
        d.setUint32(48, s.bsize, true);
        return out;
      }
      case OP.SETXATTR: {
        const size = b.readUInt32LE(0);
        const flags = b.readUInt32LE(4);
        const [name, next] = cstr(b, 8);
        ll.noCaps(dev, nodeid, false);
        overlay.setxattr(pathOf(nodeid), name, Buffer.from(b.subarray(next, next + size)), flags);
        copyUpNames(nodeid);
        return undefined;
      }
      case OP.GETXATTR: {
        const size = b.readUInt32LE(0);
        const name = cstr(b, 8)[0];
        const v = overlay.getxattr(pathOf(nodeid), name);
        if (v === null) {
          // The kernel asks this before every write: let the loop answer it from now on.
          if (name === 'security.capability') ll.noCaps(dev, nodeid, true);
          throw new Errno(-61); // ENODATA
        }
        return sized(v, size);
      }
      case OP.LISTXATTR: {
        const size = b.readUInt32LE(0);
        const names = overlay.listxattr(pathOf(nodeid));
        return sized(Buffer.from(names.map((n) => n + '\0').join('')), size);
      }
      case OP.REMOVEXATTR:
        ll.noCaps(dev, nodeid, false);
        overlay.removexattr(pathOf(nodeid), cstr(b, 0)[0]);
        copyUpNames(nodeid);
        return undefined;
      case OP.READDIR:
      case OP.READDIRPLUS: {
        const offset = r64(b, 8);
        return readdir(nodeid, offset, b.readUInt32LE(16), op === OP.READDIRPLUS);
      }
      default:
        throw new Errno(-38); // ENOSYS
    }
  };

  const sized = (v: Buffer, size: number): Buffer => {
    if (size === 0) {
      const out = Buffer.alloc(8);
      out.writeUInt32LE(v.length, 0);
      return out;
    }
    if (v.length > size) throw new Errno(ERANGE);
    return v;
  };

  /** Drops the set-ID bits a write or truncation by `caller` (without CAP_FSETID) would; true if it did. */
  const killSuidgid = (nodeid: number, fh: number, caller: Caller): boolean => {
    const st = statInode(nodeid, fh >= 0 ? overlay.fd(fh) : undefined);
    const mode = killedMode(st, caller);
    if (mode === (st[0]! & 0o7777)) return false;
    overlay.fchmod(fh, pathOf(nodeid), mode);
    return true;
  };

  const setattr = (nodeid: number, b: Buffer, caller: Caller): StatArray => {
    const valid = b.readUInt32LE(0);
    const f = valid & FATTR.FH ? files.get(b.readUInt32LE(8)) : undefined;
    const e = inodeOf(nodeid);
    if (e.node.removed && f) {
      // Unlinked but open: only the handle reaches it.
      if (valid & FATTR.SIZE) overlay.ftruncate(f.fh, '', r64(b, 16));
      if (valid & FATTR.MODE) fs.fchmodSync(f.fd, b.readUInt32LE(68) & 0o7777);
      if (valid & (FATTR.UID | FATTR.GID)) fs.fchownSync(f.fd, valid & FATTR.UID ? b.readUInt32LE(76) : -1, valid & FATTR.GID ? b.readUInt32LE(80) : -1);
      return statInode(nodeid, f.fd);
    }
    const p = pathOf(nodeid);
    // Through an open file when there is one (the caller's, or any writer's:
    // fchmod, fchown and futimens come without a handle), else by path.
    const via = f ?? writers.get(nodeid);
    const fh = via?.fh ?? -1;
    if (valid & FATTR.MODE) overlay.fchmod(fh, p, b.readUInt32LE(68));
    if (valid & (FATTR.UID | FATTR.GID)) {
      overlay.fchown(fh, p, valid & FATTR.UID ? b.readUInt32LE(76) : 0xffffffff, valid & FATTR.GID ? b.readUInt32LE(80) : 0xffffffff);
    }
    if (valid & FATTR.SIZE) {
      const size = r64(b, 16);
      if (f) overlay.ftruncate(f.fh, p, size);
      else overlay.truncate(p, size);
    }
    // A truncation or chown by a caller without CAP_FSETID (the host's chown drops the bits by itself).
    if (valid & FATTR.KILL_SUIDGID) killSuidgid(nodeid, fh, caller);
    if (valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
      const time = (set: number, now: number, secOff: number, nsecOff: number): [number, number] =>
        valid & now ? [0, UTIME_NOW] : valid & set ? [b.readUInt32LE(secOff) + b.readInt32LE(secOff + 4) * 4294967296, b.readUInt32LE(nsecOff)] : [0, UTIME_OMIT];
      overlay.futimens(fh, p, time(FATTR.ATIME, FATTR.ATIME_NOW, 32, 56), time(FATTR.MTIME, FATTR.MTIME_NOW, 40, 60));
    }
    copyUpNames(nodeid);
    const st = statInode(nodeid, via?.fd);
    if (st[0]! & SET_ID && backings.get(nodeid)?.rw) setIdBehindBacking(nodeid);
    return st;
  };

  const attach = (devFd: number, withPassthrough: boolean, at?: string): void => {
    dev = devFd;
    passthrough = withPassthrough;
    mountpoint = process.env.STRATA_LIST_AHEAD === '0' ? undefined : at;
    if (devFd < 0) return;
    // The root's attributes: the kernel's first request on any path into the
    // mount asks for them, and JavaScript's first answer takes 0.5-1.2 ms
    // in a fresh server. The loop has them from the start.
    try {
      offerAttrs(ROOT_INO, overlay.tree.root, overlay.statNode(overlay.tree.root));
    } catch {
      // Then the first GETATTR is answered here, as any other.
    }
    if (!listInLoop) return;
    // The loop numbers what it lists from a copy of the engine's map, kept up to date from here on.
    overlay.inodes.forEach((hostDev, ino, n) => ll.inoMap(dev, hostDev, ino, n));
    overlay.inodes.onChange = (hostDev, ino, n) => ll.inoMap(dev, hostDev, ino, n);
    overlay.inodes.elsewhere = (hostDev, ino) => ll.inoOf(dev, hostDev, ino);
    // What the loop lists of a directory holds until the directory is copied up.
    overlay.dirCopiedUp = (node) => {
      if (node.ino) ll.listable(dev, node.ino, 0, '', 0);
    };
    // A lower name of a copied-up hard link is served from the copy, which only the engine knows of.
    overlay.linkCopied = () => ll.listLinks(dev, false);
    ll.listTimeouts(dev, Math.floor(ttl.entry), nsec(ttl.entry), Math.floor(ttl.attr), nsec(ttl.attr));
    topUpIds();
  };
  const looked = (ids: Buffer): void => {
    const d = viewOf(ids);
    for (let off = 0; off + 8 <= ids.length; off += 8) {
      const e = known(get64(d, off));
      if (!e) continue;
      e.nlookup++;
      const dir = e.node.parent && preparedDirs.get(e.node.parent.ino);
      if (dir) dir.used++;
    }
  };
  /** Takes in the entries the loop listed: each a kernel reference, and a number it may have given (ll.listable). */
  const listed = (recs: Buffer): void => {
    const d = viewOf(recs);
    for (let off = 0; off + LISTED_REC <= recs.length;) {
      const at = off;
      const parent = get64(d, at);
      const id = get64(d, at + 8);
      const fresh = recs[at + 32] === 1;
      const n = d.getUint16(at + 34, true);
      const name = recs.toString('utf8', at + LISTED_REC, at + LISTED_REC + n);
      off += LISTED_REC + n;
      if (fresh) {
        // A number the loop gave out just now (from the block set aside for
        // it): known nowhere here yet; the engine's map asks the loop's for
        // it when it needs it (Inodes.elsewhere).
        idsNext = Math.max(idsNext, id + 1);
        addPending(id, { parent, name, nlookup: 1 });
        continue;
      }
      const e = inodes.get(id);
      const p = e ? undefined : pending.get(id);
      const same = e ? e.node.name === name && e.node.parent?.ino === parent : p && p.name === name && p.parent === parent;
      if (e && same) e.nlookup++;
      else if (p && same) p.nlookup++;
      else if (!e && !p) addPending(id, { parent, name, nlookup: 1 });
      else {
        // Another name of a hard link (the loop lists files of several links too): an alias.
        const k = known(id);
        if (k) {
          k.nlookup++;
          (k.aliases ??= []).push({ parent, name });
        } else {
          // The name it was first listed under is gone: this one stands for it.
          if (p) dropPending(id, p);
          addPending(id, { parent, name, nlookup: (p?.nlookup ?? 0) + 1 });
        }
      }
    }
    topUpIds();
  };
  /** Takes in the files the loop made: what CREATE here would have kept (tree entry, handle, backing, writer). */
  const created = (recs: Buffer): void => {
    const d = viewOf(recs);
    for (let off = 0; off + CREATED_REC <= recs.length;) {
      const parentId = get64(d, off);
      const id = get64(d, off + 8);
      const hostDev = get64(d, off + 16);
      const hostIno = get64(d, off + 24);
      const fd = d.getInt32(off + 32, true);
      const backingId = d.getInt32(off + 36, true);
      const n = d.getUint16(off + 40, true);
      const name = recs.toString('utf8', off + CREATED_REC, off + CREATED_REC + n);
      off += CREATED_REC + n;
      idsNext = Math.max(idsNext, id + 1);
      const parent = known(parentId);
      // (The kernel holds its reference to the directory while it creates in it.)
      if (!parent) throw new Error(`the loop made ${name} in node ${parentId}, which the engine does not know`);
      const { node, fh } = overlay.adoptCreated(parent.node, name, fd, hostDev, hostIno, id);
      inodes.set(id, { node, nlookup: 1 });
      const bk: Backing = { id: backingId, refs: 1, key: `${hostDev}:${hostIno}`, rw: true };
      backings.set(id, bk);
      const file: OpenFile = { fh, fd, nodeid: id, cached: false, backing: bk };
      files.set(fd, file);
      writers.set(id, file);
    }
    topUpIds();
  };
  /** Takes in the lower files the loop whited out (ll.unlinkable): the tree follows, as after UNLINK here. */
  const unlinked = (recs: Buffer): void => {
    const d = viewOf(recs);
    for (let off = 0; off + UNLINKED_REC <= recs.length;) {
      const parentId = get64(d, off);
      const n = d.getUint16(off + 8, true);
      const name = recs.toString('utf8', off + UNLINKED_REC, off + UNLINKED_REC + n);
      off += UNLINKED_REC + n;
      settle(parentId, name);
      const parent = known(parentId);
      // (The kernel holds its reference to the directory while it removes from it.)
      if (!parent) throw new Error(`the loop whited out ${name} in node ${parentId}, which the engine does not know`);
      overlay.adoptUnlinked(parent.node, name);
      unusedUnlinkable.delete(parent.node);
    }
  };
  /** Closes the handles whose RELEASE the loop answered (u64 LE each), as RELEASE here would. */
  const released = (fhs: Buffer): void => {
    for (let off = 0; off + 8 <= fhs.length; off += 8) release(r64(fhs, off));
  };

  return { handle, attach, looked, listed, created, unlinked, released, ended };
}

/** Mounts `overlay` at `mountpoint` through /dev/fuse; resolves once the kernel's INIT is answered. */
export function serveLowLevel(overlay: Overlay, mountpoint: string, opts: TransportOptions & { passthrough?: boolean }): Promise<FuseServer> {
  const stats = new OpStats();
  const session = createSession(overlay, { entry: opts.entryTimeout ?? TTL, attr: opts.attrTimeout ?? TTL }, opts.lowerPassthrough);
  let dev = -1;
  return new Promise((resolve, reject) => {
    let flags = 0;
    if (!opts.suid) flags |= ll.MS_NOSUID;
    if (!opts.dev) flags |= ll.MS_NODEV;
    if (opts.readOnly) flags |= ll.MS_RDONLY;
    if (opts.noatime) flags |= ll.MS_NOATIME;
    const extra = [...(opts.allowOther ? ['allow_other'] : []), ...(opts.defaultPermissions ? ['default_permissions'] : [])].join(',');
    try {
      dev = ll.mount(mountpoint, 'strata', 'fuse.strata', flags, extra);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES') {
        reject(new StrataError(`transport=native mounts with mount(2), which needs root (CAP_SYS_ADMIN): ${(err as Error).message}; use transport=fuse-native`));
      } else reject(err);
      return;
    }
    let ready = false;
    // Trees out of sight are deleted when this loop (and any other) is quiet, not beside its requests.
    if (process.env.STRATA_REMOVER_QUIET !== '0') removerWatch(ll.activity());
    ll.start(
      dev,
      (kind, op, unique, nodeid, uid, gid, _pid, data) => {
        if (kind === ll.ItemKind.Init) {
          const passthrough = (Math.floor((data as number) / ll.FUSE_PASSTHROUGH) & 1) === 1;
          session.attach(dev, passthrough, path.resolve(mountpoint));
          const cacheFile = opts.dirCache && dirCacheFile(opts.dirCache, overlay.layers.roots.slice(overlay.layers.firstLower));
          if (cacheFile) ll.dirCache(dev, cacheFile);
          ready = true;
          resolve({
            stats: withKernelCounts(stats, dev, passthrough),
            unmount: () => unmountPath(mountpoint),
          });
          return;
        }
        if (kind === ll.ItemKind.Lookups) {
          session.looked(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.Listed) {
          session.listed(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.Created) {
          session.created(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.Unlinked) {
          session.unlinked(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.Released) {
          session.released(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.Ended) {
          session.ended(data as Buffer);
          return;
        }
        if (kind === ll.ItemKind.End) {
          if (!ready) reject(new Error(`FUSE session at ${mountpoint} ended before INIT (errno ${data as number})`));
          opts.onUnmounted?.();
          return;
        }
        const t0 = process.hrtime.bigint();
        let failed = false;
        try {
          const out = session.handle(op, nodeid, { uid, gid }, data as Buffer);
          if (out !== null) ll.reply(dev, unique, 0, out);
        } catch (err) {
          failed = true;
          ll.reply(dev, unique, err instanceof Errno ? err.errno : toErrno(err));
        }
        stats.record(OP_NAMES.get(op) ?? `op${op}`, t0, failed);
      },
      opts.passthrough ?? true,
    );
  });
}

/**
 * The server's stats, plus what the kernel sent: `requests` counts every
 * request by op, and ops the loop answered in C alone (read, write, flush,
 * opendir...) appear in `ops` with their counts and no timings.
 */
function withKernelCounts(stats: OpStats, dev: number, passthrough: boolean): OpStats {
  const base = stats.toJSON.bind(stats);
  stats.toJSON = () => {
    const counts = ll.counts(dev);
    const requests: Record<string, number> = {};
    for (const [op, name] of OP_NAMES) if (counts[op]) requests[name] = counts[op]!;
    const json = base();
    for (const [name, count] of Object.entries(requests)) {
      json.ops[name] ??= { count, errors: 0, totalUs: 0, maxUs: 0, avgUs: 0 };
    }
    const [kept, read, checkedAhead] = ll.dirCacheCounts(dev);
    return Object.assign(json, { transport: 'native', passthrough, requests, colocation: ll.colocation(), hostDirs: { fromCache: kept, read, checkedAhead }, refreshedDirs: ll.refreshAttrs() });
  };
  return stats;
}

/**
 * A new server's first requests ran 5-20x slower than later ones (first
 * getattr 0.4-1.7 ms, lookup 0.4-1.4 ms, rename 0.8-1.9 ms: V8 compiles each
 * function on its first call). So the warm-up (core/warmup.ts) also sends
 * the everyday requests, as the kernel encodes them, through a session of
 * its own over a scratch stack: no kernel, no /dev/fuse (calls to the loop
 * find no session and do nothing).
 */
export function exerciseSession(overlay: Overlay): void {
  const s = createSession(overlay, { entry: TTL, attr: TTL });
  s.attach(-1, true);
  const root = { uid: 0, gid: 0 };
  const send = (op: number, nodeid: number, body: Buffer): Buffer | undefined => {
    try {
      return s.handle(op, nodeid, root, body) ?? undefined;
    } catch {
      return undefined; // an error reply is a path worth compiling too
    }
  };
  const names = (...n: string[]): Buffer => Buffer.from(n.map((x) => x + '\0').join(''));
  const withNames = (head: number, ...n: string[]): Buffer => Buffer.concat([Buffer.alloc(head), names(...n)]);
  const id = (entry: Buffer | undefined, off = 0): number => (entry ? r64(entry, off) : 0);
  const readIn = (): Buffer => {
    const b = Buffer.alloc(40);
    b.writeUInt32LE(65536, 16);
    return b;
  };

  send(OP.GETATTR, ROOT_INO, Buffer.alloc(16));
  const d = id(send(OP.LOOKUP, ROOT_INO, names('d')));
  send(OP.LOOKUP, ROOT_INO, names('absent'));
  send(OP.READDIRPLUS, ROOT_INO, readIn());
  send(OP.READDIR, d, readIn());
  const f = id(send(OP.LOOKUP, d, names('f')));
  const opened = send(OP.OPEN, f, Buffer.alloc(8));
  if (opened) send(OP.RELEASE, f, opened.subarray(0, 8));
  const created = Buffer.alloc(16);
  created.writeUInt32LE(fs.constants.O_RDWR | fs.constants.O_CREAT, 0);
  created.writeUInt32LE(S_IFREG | 0o644, 4);
  const c = send(OP.CREATE, ROOT_INO, Buffer.concat([created, names('n')]));
  const n = id(c);
  send(OP.GETXATTR, n, withNames(8, 'security.capability'));
  const times = Buffer.alloc(88);
  times.writeUInt32LE(FATTR.MODE | FATTR.ATIME | FATTR.MTIME | (c ? FATTR.FH : 0), 0);
  if (c) times.writeUInt32LE(id(c, ENTRY_OUT), 8);
  times.writeUInt32LE(S_IFREG | 0o600, 68);
  send(OP.SETATTR, n, times);
  if (c) send(OP.RELEASE, n, c.subarray(ENTRY_OUT, ENTRY_OUT + 8));
  send(OP.LISTXATTR, n, Buffer.alloc(8));
  const mkdir = Buffer.alloc(8);
  mkdir.writeUInt32LE(0o755, 0);
  const m = id(send(OP.MKDIR, ROOT_INO, Buffer.concat([mkdir, names('m')])));
  const l = id(send(OP.SYMLINK, m, names('l', '../n')));
  send(OP.READLINK, l, Buffer.alloc(0));
  const link = Buffer.alloc(8);
  link.writeUInt32LE(n, 0);
  send(OP.LINK, m, Buffer.concat([link, names('h')]));
  const rename2 = Buffer.alloc(16);
  rename2.writeUInt32LE(ROOT_INO, 0);
  send(OP.RENAME2, ROOT_INO, Buffer.concat([rename2, names('d', 'd2')])); // a lower directory: a redirect
  const rename = Buffer.alloc(8);
  rename.writeUInt32LE(m, 0);
  send(OP.RENAME, ROOT_INO, Buffer.concat([rename, names('n', 'n2')]));
  send(OP.STATFS, ROOT_INO, Buffer.alloc(0));
  send(OP.UNLINK, ROOT_INO, names('g')); // a lower file: a whiteout
  for (const name of ['l', 'h', 'n2']) send(OP.UNLINK, m, names(name));
  send(OP.RMDIR, ROOT_INO, names('m'));
  // A directory of lower files, as a walk and an rm -rf meet it: listed,
  // a file looked up (its siblings' answers prepared), then removed one by
  // one (the first copies the directory up), some as the loop reports them.
  const e = id(send(OP.LOOKUP, ROOT_INO, names('e')));
  send(OP.READDIRPLUS, e, readIn());
  send(OP.GETATTR, e, Buffer.alloc(16));
  send(OP.LOOKUP, e, names('f0'));
  send(OP.LOOKUP, e, names('f1'));
  const gone = Array.from({ length: SCRATCH_FILES }, (_, i) => `f${i}`);
  for (const name of gone.slice(0, SCRATCH_FILES / 2)) send(OP.UNLINK, e, names(name));
  const listed = Buffer.alloc(LISTED_REC + 1); // e, listed again (parent, id; names are ASCII here)
  listed.writeUInt32LE(ROOT_INO, 0);
  listed.writeUInt32LE(e, 8);
  listed.writeUInt16LE(1, 34);
  listed.write('e', LISTED_REC);
  s.listed(listed);
  const unlinked = Buffer.concat(
    gone.slice(SCRATCH_FILES / 2).map((name) => {
      const rec = Buffer.alloc(UNLINKED_REC + name.length);
      rec.writeUInt32LE(e, 0);
      rec.writeUInt16LE(name.length, 8);
      rec.write(name, UNLINKED_REC);
      return rec;
    }),
  );
  try {
    s.unlinked(unlinked); // (the tree only: no loop whited these out, and the scratch stack goes)
  } catch {
    // as above
  }
  send(OP.RMDIR, ROOT_INO, names('e'));
  const batch = Buffer.alloc(8 + 16 * 2);
  batch.writeUInt32LE(2, 0);
  for (const [i, node] of [e, d].entries()) {
    batch.writeUInt32LE(node, 8 + 16 * i);
    batch.writeUInt32LE(1, 16 + 16 * i);
  }
  send(OP.BATCH_FORGET, ROOT_INO, batch);
  const one = Buffer.alloc(8);
  one.writeUInt32LE(1, 0);
  for (const node of [f, n, l, m]) if (node) send(OP.FORGET, node, one);
}
