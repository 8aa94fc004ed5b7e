// Differential test: the same seeded random operation sequences applied to
// a strata mount and to a kernel overlayfs mount over identical layers; the
// errors returned, the merged views and the resulting upper directories
// must match. STRATA_DIFF_SEQS sets how many sequences (CI default 200).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { lgetxattr, llistxattr, lsetxattr, mknod } from '@strata/native';
import { cleanup, makeStack, mountKernel, mountStrata, populate, type Stack } from './helpers.ts';

const SEQS = Number(process.env.STRATA_DIFF_SEQS ?? 200);
const OPS = Number(process.env.STRATA_DIFF_OPS ?? 25);
const SEED = Number(process.env.STRATA_DIFF_SEED ?? 20261126);

test.afterEach.always(async (t) => cleanup(t));

/** mulberry32: small, seedable, good enough to pick operations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The starting tree of one sequence, in two lower layers (0 on top). */
function seedLayers(s: Stack, dir: string): void {
  populate(path.join(s.lowers[1]!, dir), {
    'f1': 'bottom f1', 'd1/f2': 'f2', 'd1/d2/f3': 'f3', 'd3/': null, 's1': { symlink: 'f1' },
    'wdel': 'deleted by top', 'opq/x': 'hidden by opaque', 'd4/d5/f6': 'deep',
  });
  populate(path.join(s.lowers[0]!, dir), { 'f1': 'top f1', 'd1/f4': 'f4', 'opq/y': 'y', 'd3/f5': 'f5' });
  mknod(path.join(s.lowers[0]!, dir, 'wdel'), 0o020000, 0, 0);
  // a lower hard link: copy-up of one name must keep both names one file
  fs.linkSync(path.join(s.lowers[1]!, dir, 'd1/f2'), path.join(s.lowers[1]!, dir, 'd4/x'));
  lsetxattr(path.join(s.lowers[0]!, dir, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
}

const NAMES = ['f1', 'f2', 'd1', 'd2', 'd3', 'x', 'y', 'n1', 'n2', 'opq', 's1', 'wdel', 'd4'];

type Op = { kind: string; a: string; b?: string; n?: number };

function genOps(r: () => number): Op[] {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  // Mostly short paths, so most operations hit names that exist.
  const rel = () => Array.from({ length: r() < 0.5 ? 1 : r() < 0.7 ? 2 : 3 }, () => pick(NAMES)).join('/');
  const kinds = ['create', 'write', 'truncate', 'unlink', 'mkdir', 'rmdir', 'rename', 'rename', 'link', 'symlink', 'chmod', 'setxattr', 'readdir', 'read'];
  return Array.from({ length: OPS }, () => ({ kind: pick(kinds), a: rel(), b: rel(), n: Math.floor(r() * 1000) }));
}

function apply(root: string, op: Op): string {
  const a = path.join(root, op.a);
  const b = path.join(root, op.b!);
  try {
    switch (op.kind) {
      case 'create': fs.writeFileSync(a, `new ${op.n}`, { flag: 'wx' }); break;
      case 'write': fs.appendFileSync(a, `+${op.n}`, { flag: 'r+' }); break;
      case 'truncate': fs.truncateSync(a, op.n! % 7); break;
      case 'unlink': fs.unlinkSync(a); break;
      case 'mkdir': fs.mkdirSync(a, 0o755); break;
      case 'rmdir': fs.rmdirSync(a); break;
      case 'rename': fs.renameSync(a, b); break;
      case 'link': fs.linkSync(a, b); break;
      case 'symlink': fs.symlinkSync(op.a, b); break;
      case 'chmod': fs.chmodSync(a, 0o600 + (op.n! % 0o100)); break;
      case 'setxattr': lsetxattr(a, 'user.t', Buffer.from(String(op.n)), 0); break;
      case 'readdir': return fs.readdirSync(a).sort().join(',');
      case 'read': return fs.readFileSync(a, 'utf8');
    }
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/**
 * What a tree looks like: per path, type, mode, content, link target, user
 * xattrs. With `inos`, each regular file's host inode number is put there.
 */
function snapshot(root: string, upper: boolean, inos?: Map<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    if (inos && st.isFile()) inos.set(rel, st.ino);
    let d: string;
    if (st.isCharacterDevice() && st.rdev === 0) d = 'whiteout';
    else if (st.isDirectory()) {
      d = `dir ${(st.mode & 0o7777).toString(8)}`;
      if (upper) {
        if (lgetxattr(p, 'trusted.overlay.opaque')?.toString() === 'y') d += ' opaque';
        if (lgetxattr(p, 'trusted.overlay.redirect')) d += ' redirect';
      }
    } else if (st.isSymbolicLink()) d = `link ${fs.readlinkSync(p)}`;
    else if (st.isFile()) d = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha1').update(fs.readFileSync(p)).digest('hex').slice(0, 8)}`;
    else d = `other ${st.mode.toString(8)}`;
    const xs = llistxattr(p).filter((n) => n.startsWith('user.')).sort();
    for (const x of xs) d += ` ${x}=${lgetxattr(p, x)?.toString()}`;
    out[rel || '.'] = d;
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  if (fs.existsSync(root)) walk('');
  return out;
}

/**
 * The one way strata's upper layer may differ from the kernel's: a change
 * to a lower file of several names is copied up under every name the
 * kernel has looked up (FUSE does not say through which one it came), where
 * kernel overlayfs copies up the name used and serves the others from its
 * index. Such an extra name, a hard link of a file both upper layers hold,
 * is taken out of `ours`; anything else stays a difference.
 */
function withoutExtraLinks(ours: Record<string, string>, theirs: Record<string, string>, inos: Map<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [rel, d] of Object.entries(ours)) {
    const ino = inos.get(rel);
    const extra = !(rel in theirs) && ino !== undefined &&
      [...inos].some(([other, i]) => i === ino && other !== rel && other in theirs && ours[other] === d);
    if (extra) dropped.push(rel);
    else out[rel] = d;
  }
  // ... and so are the directories copied up only to hold it
  for (const rel of dropped) {
    for (let dir = path.dirname(rel); dir !== '.' && !(dir in theirs); dir = path.dirname(dir)) {
      if (Object.keys(out).some((k) => k.startsWith(dir + '/'))) break;
      delete out[dir];
    }
  }
  return out;
}

/** The paths two snapshots disagree on, first in a report (a CI log may keep only its head). */
function differences(ours: Record<string, string>, theirs: Record<string, string>): string {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
  return keys.filter((k) => ours[k] !== theirs[k]).map((k) => `${k}: strata ${ours[k] ?? '-'}, kernel ${theirs[k] ?? '-'}`).join('; ');
}

test(`strata and kernel overlayfs agree on ${SEQS} random operation sequences`, async (t) => {
  const ours = makeStack(2);
  const theirs = makeStack(2);
  const dirs = Array.from({ length: SEQS }, (_, i) => `s${i}`);
  for (const d of dirs) {
    seedLayers(ours, d);
    seedLayers(theirs, d);
  }
  await mountStrata(t, ours);
  // redirect_dir=on: the kernel then renames lower directories too (strata always does);
  // index=on: it keeps lower hard links one file across copy-up (strata always does).
  await mountKernel(t, theirs, theirs.mnt, ['redirect_dir=on', 'index=on']);
  let mismatches = 0;
  const time = { strata: 0, kernel: 0, compare: 0 };
  for (let i = 0; i < SEQS && mismatches < 5; i++) {
    const seed = SEED + i;
    const ops = genOps(rng(seed));
    const log: string[] = [];
    for (const op of ops) {
      let t0 = performance.now();
      const a = apply(path.join(ours.mnt, dirs[i]!), op);
      time.strata += performance.now() - t0;
      t0 = performance.now();
      const b = apply(path.join(theirs.mnt, dirs[i]!), op);
      time.kernel += performance.now() - t0;
      log.push(`${op.kind} ${op.a}${['rename', 'link', 'symlink'].includes(op.kind) ? ` ${op.b}` : ''} -> ${b}`);
      if (a !== b) {
        t.log(`seed ${seed}: ${op.kind} ${op.a} ${op.b}: strata ${a}, kernel ${b}\n  ${log.join('\n  ')}`);
        mismatches++;
        break;
      }
    }
    const t1 = performance.now();
    const mv = [snapshot(path.join(ours.mnt, dirs[i]!), false), snapshot(path.join(theirs.mnt, dirs[i]!), false)];
    const inos = new Map<string, number>();
    const uv = [snapshot(path.join(ours.upper, dirs[i]!), true, inos), snapshot(path.join(theirs.upper, dirs[i]!), true)];
    uv[0] = withoutExtraLinks(uv[0]!, uv[1]!, inos);
    time.compare += performance.now() - t1;
    if (JSON.stringify(mv[0]) !== JSON.stringify(mv[1])) {
      mismatches++;
      t.log(`seed ${seed}: merged views differ: ${differences(mv[0]!, mv[1]!)}\n  ${log.join('\n  ')}\n strata ${JSON.stringify(mv[0], null, 1)}\n kernel ${JSON.stringify(mv[1], null, 1)}`);
    } else if (JSON.stringify(uv[0]) !== JSON.stringify(uv[1])) {
      mismatches++;
      t.log(`seed ${seed}: upper dirs differ: ${differences(uv[0]!, uv[1]!)}\n  ${log.join('\n  ')}\n strata ${JSON.stringify(uv[0], null, 1)}\n kernel ${JSON.stringify(uv[1], null, 1)}`);
    }
  }
  t.log(`ms spent: strata ops ${time.strata.toFixed(0)}, kernel ops ${time.kernel.toFixed(0)}, snapshots ${time.compare.toFixed(0)}`);
  t.is(mismatches, 0);
});
