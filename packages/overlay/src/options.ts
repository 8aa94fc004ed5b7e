// `-o` option strings as `mount -t overlay` and fuse-overlayfs take them:
// lowerdir=A:B:C (leftmost on top; "\:" escapes a colon, "\," a comma),
// upperdir=U, workdir=W, plus common mount options. lowerdir alone gives a
// read-only mount.
import { UsageError } from '@strata/common';
import type { OverlayOptions } from './types.ts';

/** Mount options beyond the layer stack that the server honours. */
export interface ParsedMountOptions extends OverlayOptions {
  dev?: boolean;
  suid?: boolean;
  noatime?: boolean;
  /** Seconds the kernel caches attributes / names (mount options attr_timeout, entry_timeout, timeout). */
  attrTimeout?: number;
  entryTimeout?: number;
  /** Which FUSE transport serves the mount (see fuse/select.ts); absent: $STRATA_FUSE_TRANSPORT, else the default. */
  transport?: 'native' | 'fuse-native';
  /** Rename directories that have lower parts (default true); false gives EXDEV as kernel redirect_dir=off does. */
  redirectDir?: boolean | 'copy';
  /**
   * Native transport: pass files still in a lower layer through too (the
   * default; `lower_passthrough=off` turns it off). Reads of lower files go
   * at the host page cache's speed, at the price that a file opened before
   * another open copies it up goes on reading the lower file, as under
   * fuse-overlayfs and overlayfs before Linux 4.19 (see fuse/lowlevel.ts
   * openReply). Off, such a reader sees the copy, as under overlayfs since
   * 4.19, and lower files are page cached by FUSE instead.
   */
  lowerPassthrough?: boolean;
  /**
   * Native transport: keep the names of lower directories between mounts
   * and take them from there while a directory is unchanged (the default,
   * in fuse/dircache.ts's directory; `dircache=DIR` another one, absolute;
   * `dircache=off` reads every directory from its layers).
   */
  dirCache?: boolean | string;
}

/** Splits `s` on `sep` where it is not escaped with a backslash, then unescapes. */
export function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      continue;
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** Keeps escapes (splitting commas first must not eat the escapes of colons). */
function splitKeepingEscapes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** Options that mount(8) passes on and that mean nothing here; accepted and ignored. */
const IGNORED = new Set(['exec', 'noexec', 'atime', 'relatime', 'strictatime', 'nodiratime', 'diratime', 'auto', 'noauto', 'user', 'nouser', 'users', 'defaults', '_netdev', 'nofail', 'async', 'sync', 'dirsync', 'rw', 'index=on', 'index=off', 'xino=on', 'xino=off', 'xino=auto', 'metacopy=off', 'fsync=auto', 'fsync=volatile']);

/** Parses one or more `-o` strings (later ones win). Throws UsageError naming the bad option. */
export function parseMountOptions(strings: string[]): ParsedMountOptions {
  const o: ParsedMountOptions = { lowerDirs: [] };
  let sawLower = false;
  for (const s of strings) {
    for (const raw of splitKeepingEscapes(s, ',')) {
      if (raw === '') continue;
      const eq = raw.indexOf('=');
      const key = eq === -1 ? raw : raw.slice(0, eq);
      const value = eq === -1 ? '' : raw.slice(eq + 1);
      switch (key) {
        case 'lowerdir':
          o.lowerDirs = splitEscaped(value, ':').map(unescapeAll);
          if (o.lowerDirs.some((d) => d === '')) throw new UsageError(`mount option lowerdir=${value}: empty layer path`);
          sawLower = true;
          break;
        case 'upperdir':
          o.upperDir = unescapeAll(value);
          break;
        case 'workdir':
          o.workDir = unescapeAll(value);
          break;
        case 'ro':
          o.readOnly = true;
          break;
        case 'rw':
          o.readOnly = false;
          break;
        case 'allow_other':
          o.allowOther = true;
          break;
        case 'default_permissions':
          o.defaultPermissions = true;
          break;
        case 'dev':
          o.dev = true;
          break;
        case 'suid':
          o.suid = true;
          break;
        case 'nodev':
          o.dev = false;
          break;
        case 'nosuid':
          o.suid = false;
          break;
        case 'noatime':
          o.noatime = true;
          break;
        case 'whiteout':
          if (value !== 'overlay' && value !== 'aufs') throw new UsageError(`mount option whiteout=${value}: expected overlay or aufs`);
          o.whiteout = value;
          break;
        case 'transport':
          if (value !== 'native' && value !== 'fuse-native') throw new UsageError(`mount option transport=${value}: expected native or fuse-native`);
          o.transport = value;
          break;
        case 'redirect_dir':
          // on (default): directories with lower parts rename like the kernel's
          // redirect_dir; off/follow/nofollow: such renames fail with EXDEV.
          // copy: such a directory is copied up whole instead, so the upper
          // directory is a self-contained diff (what a layer builder needs).
          if (!['on', 'off', 'follow', 'nofollow', 'copy'].includes(value)) throw new UsageError(`mount option redirect_dir=${value}: expected on, off, follow, nofollow or copy`);
          o.redirectDir = value === 'copy' ? 'copy' : value === 'on';
          break;
        case 'timeout':
        case 'attr_timeout':
        case 'entry_timeout': {
          // fuse-overlayfs's timeout= sets both; attributes are not cached by default (see README).
          const n = Number(value);
          if (value === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`mount option ${raw}: expected a number of seconds`);
          if (key !== 'entry_timeout') o.attrTimeout = n;
          if (key !== 'attr_timeout') o.entryTimeout = n;
          break;
        }
        case 'nosync':
          o.noSync = true;
          break;
        case 'lower_passthrough':
          if (!['', 'on', 'off'].includes(value)) throw new UsageError(`mount option lower_passthrough=${value}: expected on or off`);
          o.lowerPassthrough = value !== 'off';
          break;
        case 'dircache':
          if (value !== 'on' && value !== 'off' && !value.startsWith('/')) throw new UsageError(`mount option dircache=${value}: expected on, off or an absolute directory`);
          o.dirCache = value === 'on' ? true : value === 'off' ? false : unescapeAll(value);
          break;
        default:
          if (IGNORED.has(raw) || IGNORED.has(key)) break;
          throw new UsageError(`unknown mount option '${raw}'`);
      }
    }
  }
  if (!sawLower) throw new UsageError('mount options: lowerdir= is required');
  if ((o.upperDir === undefined) !== (o.workDir === undefined)) {
    throw new UsageError('mount options: upperdir and workdir go together');
  }
  return o;
}

function unescapeAll(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** The `-o` string for `opts` (inverse of parseMountOptions for the layer options). */
export function formatMountOptions(opts: OverlayOptions): string {
  const esc = (p: string) => p.replace(/([\\:,])/g, '\\$1');
  const parts = [`lowerdir=${opts.lowerDirs.map(esc).join(':')}`];
  if (opts.upperDir !== undefined) parts.push(`upperdir=${esc(opts.upperDir)}`, `workdir=${esc(opts.workDir ?? '')}`);
  if (opts.readOnly) parts.push('ro');
  if (opts.allowOther) parts.push('allow_other');
  if (opts.defaultPermissions) parts.push('default_permissions');
  if (opts.whiteout) parts.push(`whiteout=${opts.whiteout}`);
  if (opts.noSync) parts.push('nosync');
  const rd = (opts as ParsedMountOptions).redirectDir;
  if (rd === false) parts.push('redirect_dir=off');
  if (rd === 'copy') parts.push('redirect_dir=copy');
  const lp = (opts as ParsedMountOptions).lowerPassthrough;
  if (lp !== undefined) parts.push(lp ? 'lower_passthrough' : 'lower_passthrough=off');
  const dc = (opts as ParsedMountOptions).dirCache;
  if (dc !== undefined) parts.push(`dircache=${typeof dc === 'string' ? esc(dc) : dc ? 'on' : 'off'}`);
  return parts.join(',');
}
