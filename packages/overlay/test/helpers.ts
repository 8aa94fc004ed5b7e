// Shared test scaffolding: layer directories in a temp dir, and mounts that
// are always unmounted (and their servers gone) when a test ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { mountOverlay, mountKernelOverlay, type MountHandle, type OverlayOptions } from '../src/index.ts';
import { mountPoints } from '../src/validate.ts';

export interface Stack {
  dir: string;
  lowers: string[];
  upper: string;
  work: string;
  mnt: string;
}

/** A temp dir with `n` lower layers l0 (top) .. l{n-1}, an upper, a work dir and a mountpoint. */
export function makeStack(n = 2): Stack {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ov-'));
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

const live = new Set<MountHandle>();

export function stackOptions(s: Stack, extra: Partial<OverlayOptions> = {}): OverlayOptions {
  return { lowerDirs: s.lowers, upperDir: s.upper, workDir: s.work, ...extra };
}

/** Mounts strata over `s`; registered for cleanup. */
export async function mountStrata(s: Stack, extra: Partial<OverlayOptions> = {}, mnt = s.mnt): Promise<MountHandle> {
  const h = await mountOverlay(mnt, stackOptions(s, extra));
  live.add(h);
  return h;
}

export async function mountKernel(s: Stack, mnt: string, extra: string[] = []): Promise<MountHandle> {
  const h = await mountKernelOverlay(mnt, stackOptions(s), extra);
  live.add(h);
  return h;
}

export async function unmount(h: MountHandle): Promise<void> {
  live.delete(h);
  await h.unmount();
}

/** Stops tracking `h` (its server was killed and the test cleared the mount itself). */
export function forget(h: MountHandle): void {
  live.delete(h);
}

/** Unmounts whatever a test left mounted; use in test.afterEach.always. */
export async function cleanup(t?: ExecutionContext): Promise<void> {
  for (const h of [...live]) {
    live.delete(h);
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
