// @strata/native/fusell: the raw /dev/fuse loop (see src/fuse_ll.c). It
// carries bytes; the FUSE protocol's namespace requests are decoded and
// answered by the transport in @strata/overlay (src/fuse/lowlevel.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** What the loop hands JavaScript (the `kind` argument of the callback). */
export const ItemKind = {
  /** A request to answer with reply(); `data` is its body (after fuse_in_header). */
  Request: 0,
  /** INIT was answered; `op` holds the kernel's minor version, `data` the negotiated flags. */
  Init: 1,
  /** The session ended; `data` is 0 when the filesystem was unmounted, else the errno of read(). */
  End: 2,
  /** The loop answered LOOKUPs from prepared entries: `data` holds their node ids (u64 LE each), one per answer. */
  Lookups: 3,
  /** The loop made files itself (reserveIds, completeDir's `creatable`): `data` holds their records (see fuse_ll.c, struct created_rec). */
  Created: 4,
  /** The loop whited out lower files itself (unlinkable): `data` holds their records (see fuse_ll.c, struct unlinked_rec). */
  Unlinked: 5,
  /** The loop answered RELEASEs itself: `data` holds their file handles (u64 LE each), for JavaScript to close. */
  Released: 6,
  /** The loop listed directories itself (listable): `data` holds the entries it gave out (see fuse_ll.c, struct listed_rec). */
  Listed: 7,
  /** The loop handed out listings of directories to their end (the kernel then takes their atime for stale): `data` holds their node ids (u64 LE each). */
  Ended: 8,
} as const;
export type ItemKind = (typeof ItemKind)[keyof typeof ItemKind];

export type LoopCallback = (kind: ItemKind, op: number, unique: number, nodeid: number, uid: number, gid: number, pid: number, data: Buffer | number) => void;

interface Binding {
  mount(mountpoint: string, source: string, fstype: string, mountFlags: number, extraOptions: string): number;
  start(fd: number, cb: LoopCallback, passthrough: boolean): void;
  reply(fd: number, unique: number, error: number, data?: Buffer): void;
  backingOpen(fd: number, hostFd: number): number;
  backingClose(fd: number, id: number): void;
  noCaps(fd: number, nodeid: number, on: boolean): void;
  stableAttr(fd: number, nodeid: number, attrOut: Buffer): void;
  upperDir(fd: number, nodeid: number, dirFd: number, merged: boolean, validSec: number, validNsec: number): void;
  writerFile(fd: number, nodeid: number, hostFd: number, ino: number, validSec: number, validNsec: number): void;
  invalAttrs(fd: number, nodeid: number): void;
  prepareEntries(fd: number, parent: number, entries: Buffer): void;
  completeDir(fd: number, nodeid: number, names: Buffer, validSec: number, validNsec: number, creatable: boolean): void;
  unlinkable(fd: number, nodeid: number, dirFd: number, whiteout: string, names: Buffer): void;
  reserveIds(fd: number, first: number, count: number): void;
  generation(fd: number): number;
  listable(fd: number, nodeid: number, parent: number, hostPaths: string, flags: number): void;
  inoMap(fd: number, hostDev: number, hostIno: number, n: number): void;
  inoOf(fd: number, hostDev: number, hostIno: number): number;
  listTimeouts(fd: number, entrySec: number, entryNsec: number, attrSec: number, attrNsec: number): void;
  listLinks(fd: number, on: boolean): void;
  dirCache(fd: number, file: string): void;
  dirCacheCounts(fd: number): [number, number, number];
  counts(fd: number): number[];
  activity(): ArrayBuffer;
  colocation(): Colocation;
  refreshAttrs(mountpoint?: string, dirs?: string[]): number;
  listingEnded(fd: number, nodeid: number): void;
  prefaultHeap(): void;
}

/** How the loop followed its callers' CPUs (native/src/colocate.c). */
export interface Colocation {
  enabled: boolean;
  /** Runs of requests served as an idle-class thread. */
  bursts: number;
  /** Moves of the loop to its caller's CPU. */
  moves: number;
  /** Times the watchdog found the loop starved by a CPU-bound neighbour and made it a normal thread again. */
  rescues: number;
  /** The watchdog's looks, and those that found the loop starved. */
  looks: number;
  starved: number;
  /** Bursts the loop left the idle class in because the caller's requests left FORGETs behind (rm -rf). */
  declines: number;
}

const binding = require('./build/Release/strata_fusell.node') as Binding;

/** mount(2) flags. */
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOATIME = 1024;

/** FUSE_INIT flag: the kernel agreed to FUSE passthrough. */
export const FUSE_PASSTHROUGH = 2 ** 37;

/**
 * Opens /dev/fuse and mounts it at `mountpoint` with mount(2) (root only):
 * "fd=N,rootmode=40000,user_id=..,group_id=.." plus `extraOptions`
 * (e.g. "allow_other,default_permissions"). Returns the /dev/fuse fd.
 * Throws an Error with .code ("EPERM", ...) and nothing mounted on failure.
 */
export const mount: Binding['mount'] = binding.mount;

/**
 * Serves the session on `fd` from this thread's event loop (no other
 * thread): `cb` runs for every forwarded request, once after INIT, and once
 * at the end, after which the loop closes `fd`; the process stays alive
 * until the session ends. A process may run several sessions; the calls
 * below name theirs by `fd` and do nothing (or throw ENOTCONN) once it ended.
 * With `passthrough`, INIT offers FUSE_PASSTHROUGH.
 */
export const start: Binding['start'] = binding.start;

/** Answers request `unique` of session `fd`: `error` 0 with an optional payload, or a negative errno. */
export const reply: Binding['reply'] = binding.reply;

/** Registers host fd `hostFd` as a passthrough backing file of session `fd`; returns its id (FUSE_DEV_IOC_BACKING_OPEN). */
export const backingOpen: Binding['backingOpen'] = binding.backingOpen;

/** Drops backing id `id`; files opened with it keep their backing file until released. */
export const backingClose: Binding['backingClose'] = binding.backingClose;

/**
 * Tells the loop whether node `nodeid` has no security.capability xattr, so
 * it may answer the kernel's per-write query itself (on) or must ask (off).
 */
export const noCaps: Binding['noCaps'] = binding.noCaps;

/**
 * Gives the loop the GETATTR reply (fuse_attr_out, 104 bytes) of a node
 * whose attributes cannot change until a request changes the tree (a
 * directory still only in lower layers): the loop answers GETATTR for it
 * itself, until any request that may change something arrives.
 */
export const stableAttr: Binding['stableAttr'] = binding.stableAttr;

/**
 * Hands the loop an open descriptor of an upper-layer directory (which it
 * then owns) to answer GETATTR of `nodeid` with an fstat of it, link count
 * 1 if `merged`, until the kernel forgets the node, a directory is renamed,
 * or JavaScript drops it (`dirFd` -1: after it removed that directory).
 */
export const upperDir: Binding['upperDir'] = binding.upperDir;

/**
 * Registers the host fd of a file open for writing in the upper layer: the
 * loop answers GETATTR of `nodeid` (as inode `ino`) with an fstat of its own
 * dup of it, and SETATTR of mode, owner and times through that dup, until
 * the kernel forgets the node or `hostFd` -1 drops the registration.
 */
export const writerFile: Binding['writerFile'] = binding.writerFile;

/**
 * LOOKUP answers for names in directory `parent`, each [u16 LE name
 * length][name][fuse_entry_out]: the loop answers those lookups itself
 * until a request that may change the tree arrives, and reports the node
 * ids it handed out (ItemKind.Lookups) before the next request it forwards.
 */
export const prepareEntries: Binding['prepareEntries'] = binding.prepareEntries;

/**
 * Directory `nodeid` has no lower parts and exactly these names, each [u16
 * LE length][name]: the loop answers LOOKUPs of any other name in it "no
 * such entry" (cached by the kernel for validSec + validNsec), and adds
 * every name a request may create there before forwarding the request.
 * `creatable` (no whiteouts there either): the loop may answer a CREATE
 * there itself, and reports the file (ItemKind.Created) before anything
 * else it hands over.
 */
export const completeDir: Binding['completeDir'] = binding.completeDir;

/**
 * The loop may answer UNLINK of these names of directory `nodeid` (each
 * [u16 LE length][name]; files only in lower layers) itself, by linking
 * the shared whiteout inode at `whiteout` into `dirFd` (its upper
 * directory; the loop owns the descriptor from now on), until a request
 * that may change the tree arrives; it reports each name
 * (ItemKind.Unlinked) before the next request it forwards.
 */
export const unlinkable: Binding['unlinkable'] = binding.unlinkable;

/** listable flags: files get attributes in the directory's READDIRPLUS replies. */
export const LIST_FILES = 1;
/** ... and in those of its subdirectories. */
export const LIST_CHILD_FILES = 2;
/** Layers lie below the directory's: a subdirectory may carry an overlay redirect (the loop looks). */
export const LIST_MARKS = 4;

/**
 * Directory `nodeid` (child of `parent`), still only in lower layers, is
 * the merge of `hostPaths` (its host directories, top first, each followed
 * by a NUL): the loop answers its READDIR and READDIRPLUS itself until it
 * is dropped (the directory copied up, or any rename), and so those of the
 * subdirectories it hands out (ItemKind.Listed reports every entry given).
 * "" drops it.
 */
export const listable: Binding['listable'] = binding.listable;

/** Host file (hostDev, hostIno) has merged inode number `n` (0: none any more): the loop's copy of the engine's map. */
export const inoMap: Binding['inoMap'] = binding.inoMap;

/** The merged number the loop's copy of the map holds for host file (hostDev, hostIno); 0: none. */
export const inoOf: Binding['inoOf'] = binding.inoOf;

/** The entry and attribute timeouts of what the loop lists. */
export const listTimeouts: Binding['listTimeouts'] = binding.listTimeouts;

/**
 * Whether the loop gives attributes to lower files of several links when
 * it lists them (on at first). Off for good once one was copied up: its
 * other names are then served from the copy, which only the engine knows.
 */
export const listLinks: Binding['listLinks'] = binding.listLinks;

/**
 * The loop keeps the names of the lower directories it lists in `file`
 * (written when the session ends) and takes them from there while a
 * directory's inode, mtime and ctime are unchanged (native/src/dircache.c);
 * "" stops it.
 */
export const dirCache: Binding['dirCache'] = binding.dirCache;

/** Host directories the loop listed from the cache (dirCache), and read from the disk. */
export const dirCacheCounts: Binding['dirCacheCounts'] = binding.dirCacheCounts;

/** Node ids [first, first + count) are the loop's to give the files it makes and lists; an earlier block's rest goes unused. */
export const reserveIds: Binding['reserveIds'] = binding.reserveIds;

/**
 * The loop's tree generation: it steps on every request that may change the
 * tree, which drops the stable attributes and prepared entries of the
 * generation before (0 for an ended session).
 */
export const generation: Binding['generation'] = binding.generation;

/** Tells the kernel that node `nodeid`'s attributes changed (FUSE_NOTIFY_INVAL_INODE, attributes only). */
export const invalAttrs: Binding['invalAttrs'] = binding.invalAttrs;

/**
 * The loop answers OPENDIR itself (a fresh handle; the kernel caches
 * listings) and RELEASEDIR too, unless JavaScript marked the handle because
 * it holds a listing snapshot for it: then RELEASEDIR is forwarded.
 */

/** Requests received so far per opcode (index = FUSE opcode), including those the loop answered itself. */
export const counts: Binding['counts'] = binding.counts;

/** This process's loops' struct loop_activity (native/src/background.h), for the remover (removerWatch in @strata/native). */
export const activity: Binding['activity'] = binding.activity;

/** The loop's CPU placement so far, for this process (one loop thread follows its callers). */
export const colocation: Binding['colocation'] = binding.colocation;

/**
 * Stats directories `dirs` (relative to the mount's root at absolute
 * `mountpoint`; "." is the root) through a clone of the mount, from the
 * kernel's dentry cache only, once this process's loops have been quiet for
 * 5 ms (native/src/refresh.c; the loop hands over ItemKind.Ended at such a
 * moment, so then at once): the kernel fetches the attributes a listing left
 * stale while nobody waits. Returns at once, with the stats made so far by
 * every call (also when called with no arguments).
 */
export const refreshAttrs: Binding['refreshAttrs'] = binding.refreshAttrs;

/** JavaScript handed out directory `nodeid`'s listing to its end: as with the loop's own, its attributes are fetched again once the loops are quiet (ItemKind.Ended). */
export const listingEnded: Binding['listingEnded'] = binding.listingEnded;

/**
 * Has a helper thread touch a block of the heap the loop will allocate from
 * (native/src/prefault.c), once per process; returns at once. Called as a
 * server starts, so the thread is done before the mount's first requests.
 */
export const prefaultHeap: Binding['prefaultHeap'] = binding.prefaultHeap;
