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
import type { OverlayOptions } from '@strata/overlay';
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
      // redirect_dir=copy: a renamed lower directory is copied up whole, so the upper dir (the layer) is self-contained.
      const opts: OverlayOptions & { dev: boolean; suid: boolean; redirectDir: 'copy' } = { lowerDirs: lowers, upperDir, workDir, allowOther: true, defaultPermissions: true, noSync: true, dev: true, suid: true, redirectDir: 'copy' };
      const { exited } = await worker().mount(mountpoint, opts);
      return {
        mountpoint,
        unmount: async () => {
          // fusermount, as the overlay's own unmount does; importing @strata/overlay
          // here would load the FUSE server into every build process for one call.
          const r = await run('fusermount', ['-u', mountpoint], { allowFailure: true });
          if (r.code !== 0) await run('umount', [mountpoint]);
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
    // A server that failed after the mount(2) leaves a dead mount behind: detach it.
    if ((await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').some((l) => l.split(' ')[1] === mountpoint)) {
      await run('fusermount', ['-uz', mountpoint], { allowFailure: true });
    }
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
 * One bin/mount-worker.js process serving one mount with the overlay's own
 * runServer. One mount per process, because a FUSE transport may serve one
 * session per process (the native /dev/fuse loop does).
 */
class WorkerProcess {
  private readonly child: ChildProcess;
  private stderr = '';
  private ready?: (r: { exited: Promise<void> }) => void;
  private fail?: (e: Error) => void;
  private exited?: () => void;

  constructor() {
    this.child = spawn(process.execPath, [WORKER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-4000)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: boolean; error?: string; exited?: number };
      if (msg.ready) this.ready?.({ exited: new Promise<void>((resolve) => (this.exited = resolve)) });
      else if (msg.error !== undefined) this.fail?.(new StrataError(`strata FUSE mount failed: ${msg.error}${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
      else this.exited?.();
    });
    this.child.on('exit', () => {
      this.fail?.(new StrataError(`the mount worker exited before mounting${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
      this.exited?.();
    });
  }

  /** Mounts; resolves once the mount answers, with a promise of the server's end (wrapped: a promise resolved with a promise would wait for it). */
  mount(mountpoint: string, opts: OverlayOptions): Promise<{ exited: Promise<void> }> {
    return new Promise((ready, fail) => {
      this.ready = ready;
      this.fail = fail;
      // One request, then end of input: the worker exits once this mount is unmounted.
      this.child.stdin!.end(JSON.stringify({ id: 1, mountpoint, opts }) + '\n');
    });
  }

  /** Ends an unused worker. */
  close(): void {
    this.child.stdin?.end();
  }
}

/**
 * Hands out mount workers, keeping one spare started ahead of need, so a
 * RUN costs a mount (~10ms) rather than a node start-up (~1s).
 */
class WorkerPool {
  private spare: WorkerProcess | undefined;
  private closed = false;

  warm(): void {
    if (!this.closed) this.spare ??= new WorkerProcess();
  }

  async mount(mountpoint: string, opts: OverlayOptions): Promise<{ exited: Promise<void> }> {
    const w = this.spare ?? new WorkerProcess();
    this.spare = undefined;
    // Start the next one while this mount is in use.
    this.warm();
    return w.mount(mountpoint, opts);
  }

  close(): void {
    this.closed = true;
    this.spare?.close();
    this.spare = undefined;
  }
}

let pool: WorkerPool | undefined;
function worker(): WorkerPool {
  return (pool ??= new WorkerPool());
}

/** Starts a FUSE mount worker ahead of the first RUN that needs it. */
export function warmMountWorker(): void {
  worker().warm();
}

/** Ends the spare mount worker (workers with a mount exit when it is unmounted). */
export function closeMountWorker(): void {
  pool?.close();
  pool = undefined;
}
