// Rename in the merged view. Both names are copied up (parents first); a
// directory with lower parts moves as the kernel's redirect_dir does (the
// upper directory moves and records where its lower parts are, so it is one
// rename whatever it holds); a name a lower layer still has is left a
// whiteout (RENAME_WHITEOUT does both in one step); a pure upper directory
// moving into a merged directory is made opaque. The merged index is
// updated to match.
import fs from 'node:fs';
import path from 'node:path';
import { renameat2, RENAME_EXCHANGE, RENAME_WHITEOUT } from '@strata/native';
import { copyUp, type CopyUpEnv } from './copyup.ts';
import { fail } from './errno.ts';
import { addChild, removeChild, replaceChild, type Node, type Tree } from './tree.ts';
import { AUFS_PREFIX, isWhiteoutStat, makeOpaque, REDIRECT_XATTR, setOverlayXattr, type WhiteoutFormat, type WhiteoutWriter } from './whiteout.ts';

export interface RenameEnv {
  tree: Tree;
  copyEnv: CopyUpEnv;
  format: WhiteoutFormat;
  /**
   * How a directory with lower parts moves: `redirect` (the kernel's
   * redirect_dir: one rename plus an xattr), `copy` (its whole tree is copied
   * up first, so the upper layer stays a self-contained diff), or `exdev`
   * (refused, as the kernel without redirect_dir).
   */
  dirRename: 'redirect' | 'copy' | 'exdev';
  /** Writes the whiteouts a rename leaves (the overlay's one writer). */
  whiteouts: WhiteoutWriter;
}

/** Copies up `node` and everything below it; afterwards nothing of it lives in a lower layer. */
function copyUpTree(env: RenameEnv, node: Node): void {
  copyUp(env.copyEnv, node);
  if (!node.isDir) return;
  for (const child of env.tree.children(node).values()) copyUpTree(env, child);
  // The upper directory now holds every entry: hide what lies below, at any name it moves to.
  if (node.lowerDirs.length > 0) {
    makeOpaque(env.tree.upperPath(node), env.format);
    node.lowerDirs = [];
  }
}

/**
 * Moves `src` to `name` in `dstParent`, replacing `dst` (the current entry
 * there, if any). The caller has resolved both; errors are rename(2)'s.
 */
export function renameEntry(env: RenameEnv, src: Node, dstParent: Node, name: string, dst: Node | undefined, from: string, to: string): void {
  if (dst === src) return;
  if (src.isDir) {
    for (let n: Node | null = dstParent; n; n = n.parent) if (n === src) fail('EINVAL', to);
  }
  // A directory in the way must be empty. Kernel overlayfs checks one with
  // lower parts before it changes anything, but leaves a pure upper one to
  // the upper filesystem's rename, after the copy-ups and the source's
  // redirect or opaque mark: those stay when that fails, and so they do
  // here, for upper layers that match the kernel's.
  let notEmpty = false;
  if (dst) {
    if (src.isDir && !dst.isDir) fail('ENOTDIR', to);
    if (!src.isDir && dst.isDir) fail('EISDIR', to);
    if (dst.isDir && env.tree.children(dst).size > 0) {
      if (!dst.upper || dst.lowerDirs.length > 0) fail('ENOTEMPTY', to);
      notEmpty = true;
    }
  }
  if (src.isDir && src.lowerDirs.length > 0) {
    if (env.dirRename === 'exdev') fail('EXDEV', from);
    if (env.dirRename === 'copy') copyUpTree(env, src);
  }
  const srcParent = src.parent!;
  copyUp(env.copyEnv, srcParent);
  copyUp(env.copyEnv, dstParent);
  env.tree.children(srcParent);
  env.tree.children(dstParent);
  copyUp(env.copyEnv, src);
  const srcUpper = env.tree.upperPath(src);
  const dstUpperDir = env.tree.upperPath(dstParent);
  const dstUpper = dstUpperDir + '/' + name;
  const dstWhitedOut = dstParent.upperWhiteouts!.has(name);

  if (src.isDir) {
    if (src.lowerDirs.length > 0) {
      // A directory with lower parts moves as the kernel's redirect_dir does:
      // the upper directory moves and records where its lower parts are.
      setOverlayXattr(srcUpper, REDIRECT_XATTR, Buffer.from(src.lowerDirs[0]!.rel));
    } else if (dst?.lowerVisible || dstWhitedOut || dstParent.lowerDirs.length > 0) {
      // A pure upper directory moving into a merged directory becomes opaque,
      // as the kernel makes it: no lower entry of its new name can show through.
      makeOpaque(srcUpper, env.format);
    }
    if (notEmpty) fail('ENOTEMPTY', to);
    if (dst?.upper) fs.rmSync(dstUpper, { recursive: true, force: true }); // empty in the merged view: only whiteouts
    else if (dstWhitedOut) removeWhiteoutFile(dstUpperDir, name);
  }
  if (src.lowerVisible && env.format === 'overlay') {
    try {
      renameat2(srcUpper, dstUpper, RENAME_WHITEOUT);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      fs.renameSync(srcUpper, dstUpper);
      env.whiteouts.make(srcUpper);
    }
  } else {
    fs.renameSync(srcUpper, dstUpper);
    if (src.lowerVisible) env.whiteouts.write(path.dirname(srcUpper), src.name);
  }
  if (dstWhitedOut && !src.isDir && env.format === 'aufs') fs.rmSync(dstUpperDir + '/' + AUFS_PREFIX + name, { force: true });

  removeChild(srcParent, src.name);
  if (src.lowerVisible) srcParent.upperWhiteouts!.add(src.name);
  if (dst) dst.removed = true;
  addChild(dstParent, name, src);
  dstParent.upperWhiteouts!.delete(name);
  src.lowerVisible = (dst?.lowerVisible ?? false) || dstWhitedOut;
  src.parent = dstParent;
  src.name = name;
}

/** RENAME_EXCHANGE: both names exist and swap what they point to, atomically in the upper layer. */
export function exchangeEntries(env: RenameEnv, a: Node, bParent: Node, bName: string, b: Node | undefined, to: string): void {
  if (!b) fail('ENOENT', to);
  if (a === b) return;
  for (let n: Node | null = bParent; n; n = n.parent) if (n === a) fail('EINVAL', to);
  for (let n: Node | null = a.parent; n; n = n.parent) if (n === b) fail('EINVAL', to);
  for (const n of [a, b]) {
    if (n.isDir && n.lowerDirs.length > 0 && env.dirRename === 'exdev') fail('EXDEV', to);
  }
  if (env.dirRename === 'copy') for (const n of [a, b]) if (n.isDir && n.lowerDirs.length > 0) copyUpTree(env, n);
  const aParent = a.parent!;
  for (const n of [aParent, bParent, a, b]) copyUp(env.copyEnv, n);
  env.tree.children(aParent);
  env.tree.children(bParent);
  // Each directory lands on the other's name: it keeps its lower parts by
  // redirect, or hides the lower entries of its new name by being opaque.
  for (const [n, landing] of [[a, b], [b, a]] as const) {
    if (!n.isDir) continue;
    if (n.lowerDirs.length > 0) setOverlayXattr(env.tree.upperPath(n), REDIRECT_XATTR, Buffer.from(n.lowerDirs[0]!.rel));
    else if (landing.lowerVisible || landing.parent!.lowerDirs.length > 0) makeOpaque(env.tree.upperPath(n), env.format);
  }
  renameat2(env.tree.upperPath(a), env.tree.upperPath(b), RENAME_EXCHANGE);
  const aName = a.name;
  const [aCookie, bCookie] = [a.cookie, b.cookie];
  replaceChild(aParent, aName, b, aCookie);
  replaceChild(bParent, bName, a, bCookie);
  [a.name, b.name] = [bName, aName];
  [a.parent, b.parent] = [bParent, aParent];
  [a.lowerVisible, b.lowerVisible] = [b.lowerVisible, a.lowerVisible];
}

function isOverlayWhiteoutAt(p: string): boolean {
  try {
    return isWhiteoutStat(fs.lstatSync(p));
  } catch {
    return false;
  }
}

/** Removes a whiteout for `name` in upper dir `dir`, whichever format it has. */
function removeWhiteoutFile(dir: string, name: string): void {
  if (isOverlayWhiteoutAt(dir + '/' + name)) fs.unlinkSync(dir + '/' + name);
  fs.rmSync(dir + '/' + AUFS_PREFIX + name, { force: true });
}
