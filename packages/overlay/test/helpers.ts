// Shared test scaffolding: layer directories in a temp dir, and mounts that
// are always unmounted (and their servers gone) when a test ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { mountOverlay, mountKernelOverlay, type MountHandle, type ParsedMountOptions } from '../src/index.ts';
import { mountPoints } from '../src/validate.ts';

export interface Stack {
  dir: string;
  lowers: string[];
  upper: string;
  work: string;
  mnt: string;
}

/** The stacks this process made: removed when it exits (below). */
const stackDirs: string[] = [];

/**
 * Ava runs each test file in a process of its own; by the time it exits,
 * every test's always-hooks have unmounted what the test mounted, and its
 * stacks can go. A stack with anything still mounted inside (a mount a
 * test failed to release) is left alone: removing it would reach through
 * the mount into the layers, or hang on a dead FUSE server.
 */
process.on('exit', () => {
  const mounted = [...mountPoints()];
  for (const dir of stackDirs) {
    if (mounted.some((m) => m === dir || m.startsWith(dir + '/'))) continue;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // a leftover temp dir is not a test failure
    }
  }
});

/** A temp dir with `n` lower layers l0 (top) .. l{n-1}, an upper, a work dir and a mountpoint. */
export function makeStack(n = 2): Stack {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ov-'));
  stackDirs.push(dir);
  const lowers = Array.from({ length: n }, (_, i) => path.join(dir, `l${i}`));
  for (const l of lowers) fs.mkdirSync(l);
  const s = { dir, lowers, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), mnt: path.join(dir, 'mnt') };
  fs.mkdirSync(s.upper);
  fs.mkdirSync(s.work);
  fs.mkdirSync(s.mnt);
  return s;
}

/** Writes a tree of files: {"a/b": "text", "d/": null (dir), "l": {symlink: "t"}}. */
export function populate(root: string, spec: Record<string, string | null | { symlink: string }>): void {
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (v === null) fs.mkdirSync(p, { recursive: true });
    else if (typeof v === 'string') fs.writeFileSync(p, v);
    else fs.symlinkSync(v.symlink, p);
  }
}

// Mounts per test (tests of a file run concurrently: each cleans up its own).
const live = new Map<string, Set<MountHandle>>();
/** The test's own title, also inside its afterEach hooks (which prefix it). */
function titleOf(t: ExecutionContext): string {
  return t.title.replace(/^afterEach(\.always)? hook for /, '');
}
function track(t: ExecutionContext, h: MountHandle): void {
  let set = live.get(titleOf(t));
  if (!set) live.set(titleOf(t), (set = new Set()));
  set.add(h);
}
function untrack(h: MountHandle): void {
  for (const set of live.values()) set.delete(h);
}

export function stackOptions(s: Stack, extra: Partial<ParsedMountOptions> = {}): ParsedMountOptions {
  return { lowerDirs: s.lowers, upperDir: s.upper, workDir: s.work, ...extra };
}

/** Mounts strata over `s`; registered for cleanup. */
export async function mountStrata(t: ExecutionContext, s: Stack, extra: Partial<ParsedMountOptions> = {}, mnt = s.mnt): Promise<MountHandle> {
  const h = await mountOverlay(mnt, stackOptions(s, extra));
  track(t, h);
  return h;
}

/**
 * Mounts `s` through the native transport with these environment variables
 * (undefined: unset) for its server, which reads them when it starts. Only
 * from serial tests: the variables are this process's until the mount is up.
 */
export async function mountWithEnv(t: ExecutionContext, env: Record<string, string | undefined>, s: Stack = makeStack(1)): Promise<Stack> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    await mountStrata(t, s, { transport: 'native' });
  } finally {
    set(saved);
  }
  return s;
}

export async function mountKernel(t: ExecutionContext, s: Stack, mnt: string, extra: string[] = []): Promise<MountHandle> {
  const h = await mountKernelOverlay(mnt, stackOptions(s), extra);
  track(t, h);
  return h;
}

export async function unmount(h: MountHandle): Promise<void> {
  untrack(h);
  await h.unmount();
}

/** Stops tracking `h` (its server was killed and the test cleared the mount itself). */
export function forget(h: MountHandle): void {
  untrack(h);
}

/** Unmounts whatever a test left mounted; use in test.afterEach.always. */
export async function cleanup(t: ExecutionContext): Promise<void> {
  const set = live.get(titleOf(t));
  live.delete(titleOf(t));
  if (set === undefined && live.size === 0 && !t.title.includes('hook for')) throw new Error('cleanup(t) must run in an afterEach hook');
  for (const h of set ?? []) {
    try {
      await h.unmount();
    } catch (err) {
      t?.log(`unmount ${h.mountpoint}: ${(err as Error).message}`);
    }
  }
}

/** True if `p` is a mountpoint right now. */
export function isMounted(p: string): boolean {
  return mountPoints().has(path.resolve(p));
}

/** A sorted listing of a directory. */
export function ls(p: string): string[] {
  return fs.readdirSync(p).sort();
}
