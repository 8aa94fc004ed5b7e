// The union mount a RUN executes on: the parent's layer dirs (top first)
// under a fresh upper dir. Driver "fuse" is strata's own FUSE overlay
// (@strata/overlay mountOverlay, served by its own process); "kernel" is
// kernel overlayfs via mount(8), the fallback. Both read and write the same
// overlay2 on-disk format, so the upper dir is the layer either way.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { StrataError, run } from '@strata/common';
import { unmountPath, type OverlayOptions } from '@strata/overlay';
import { llistxattr, lremovexattr } from '@strata/native';

export type MountDriver = 'fuse' | 'kernel';

export interface RootfsMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

/** The driver to use when none is asked for: $STRATA_BUILD_MOUNT, else strata's FUSE overlay. */
export function defaultDriver(): MountDriver {
  const env = process.env.STRATA_BUILD_MOUNT;
  return env === 'kernel' ? 'kernel' : 'fuse';
}

/** Mounts lowerDirs (top first) + upperDir/workDir on a new temp dir. */
export async function mountRootfs(driver: MountDriver, lowerDirs: string[], upperDir: string, workDir: string): Promise<RootfsMount> {
  const mountpoint = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-rootfs-'));
  let lowers = lowerDirs;
  let emptyLower: string | undefined;
  if (lowers.length === 0) {
    // FROM scratch: overlayfs needs at least one lower dir.
    emptyLower = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-empty-'));
    lowers = [emptyLower];
  }
  const cleanup = async (): Promise<void> => {
    await fs.rmdir(mountpoint).catch(() => {});
    if (emptyLower) await fs.rmdir(emptyLower).catch(() => {});
  };
  try {
    if (driver === 'fuse') {
      // allow_other: RUN may execute as any user; dev/suid: images carry device nodes and setuid binaries.
      const opts: OverlayOptions & { dev: boolean; suid: boolean } = { lowerDirs: lowers, upperDir, workDir, allowOther: true, defaultPermissions: true, noSync: true, dev: true, suid: true };
      const { exited } = await worker().mount(mountpoint, opts);
      return {
        mountpoint,
        unmount: async () => {
          await unmountPath(mountpoint);
          await exited;
          await cleanup();
        },
      };
    }
    const opts = `lowerdir=${lowers.join(':')},upperdir=${upperDir},workdir=${workDir},index=off,metacopy=off,redirect_dir=off,xino=off`;
    await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, mountpoint]);
    return {
      mountpoint,
      unmount: async () => {
        await run('umount', [mountpoint]);
        await stripOverlayXattrs(upperDir);
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Kernel overlayfs leaves bookkeeping xattrs (trusted.overlay.origin,
 * .impure, ...) on what it copied up; only .opaque belongs in a layer.
 * Walks the upper dir, which holds only what the RUN changed.
 */
async function stripOverlayXattrs(dir: string): Promise<void> {
  const visit = async (p: string): Promise<void> => {
    for (const name of llistxattr(p)) {
      if (name.startsWith('trusted.overlay.') && name !== 'trusted.overlay.opaque') lremovexattr(p, name);
    }
    const st = await fs.lstat(p);
    if (st.isDirectory()) for (const n of await fs.readdir(p)) await visit(path.join(p, n));
  };
  await visit(dir);
}

const WORKER = fileURLToPath(new URL('../bin/mount-worker.js', import.meta.url));

/**
 * Client of bin/mount-worker.js: one server process for all of a build's
 * FUSE mounts (the overlay's own runServer), started on first use, so a RUN
 * costs a mount, not a node start-up.
 */
class MountWorker {
  private child: ChildProcess | undefined;
  private next = 1;
  private stderr = '';
  private readonly pending = new Map<number, { ready: (r: { exited: Promise<void> }) => void; fail: (e: Error) => void; exited: () => void }>();

  private start(): ChildProcess {
    if (this.child && this.child.exitCode === null) return this.child;
    const child = spawn(process.execPath, [WORKER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-4000)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; ready?: boolean; error?: string; exited?: number };
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.ready) {
        p.ready({ exited: new Promise<void>((resolve) => (p.exited = resolve)) });
      } else if (msg.error !== undefined) {
        this.pending.delete(msg.id);
        p.fail(new StrataError(`strata FUSE mount failed: ${msg.error}${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
      } else {
        this.pending.delete(msg.id);
        p.exited();
      }
    });
    child.on('exit', () => {
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.fail(new StrataError(`the mount worker exited${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
        p.exited();
      }
      this.child = undefined;
    });
    this.child = child;
    return child;
  }

  /** Mounts; resolves once the mount answers, with a promise of the server's end (wrapped: a promise resolved with a promise would wait for it). */
  mount(mountpoint: string, opts: OverlayOptions): Promise<{ exited: Promise<void> }> {
    const child = this.start();
    const id = this.next++;
    return new Promise((ready, fail) => {
      this.pending.set(id, { ready, fail, exited: () => {} });
      child.stdin!.write(JSON.stringify({ id, mountpoint, opts }) + '\n');
    });
  }

  /** Lets the worker exit once its mounts are gone. */
  close(): void {
    this.child?.stdin?.end();
  }
}

let theWorker: MountWorker | undefined;
function worker(): MountWorker {
  return (theWorker ??= new MountWorker());
}

/** Ends the mount worker (it exits when its last mount is unmounted). */
export function closeMountWorker(): void {
  theWorker?.close();
  theWorker = undefined;
}
