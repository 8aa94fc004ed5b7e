// The FUSE server process: what `strata mount -f` and mountOverlay() run.
// It validates the stack, mounts, reports readiness (or the error) on a
// pipe to whoever started it, and exits when the filesystem is unmounted
// (by strata umount, fusermount -u, umount, or a signal to it).
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '@strata/common';
import { drainRemovals } from '@strata/native';
import { Overlay } from './core/overlay.ts';
import { warmUp } from './core/warmup.ts';
import { dirCacheDir } from './fuse/dircache.ts';
import type { FuseServer } from './fuse/transport.ts';
import { chooseTransport, exerciseTransport, prepareTransport, serveWith } from './fuse/select.ts';
import type { ParsedMountOptions } from './options.ts';
import { removeState, statsFileFor, writeState } from './state.ts';
import { validateMount } from './validate.ts';
import { unmountPath } from './unmount.ts';

export interface ServerOptions {
  /** fd of a pipe to write "READY\n" or "ERROR <code> <message>\n" to; stderr gets errors otherwise. */
  readyFd?: number;
}

function report(fd: number | undefined, line: string): void {
  if (fd === undefined) return;
  try {
    fs.writeSync(fd, line + '\n');
    fs.closeSync(fd);
  } catch {
    // The starter went away; the mount stays served.
  }
}

/** The work area inside workdir (the kernel's name for it, so both drivers share one layout). */
export function workArea(workDir: string): string {
  return path.join(workDir, 'work');
}

/**
 * Waits (up to `timeoutMs`) for the background work mounts leave behind,
 * the deletion of removed trees in their work areas (core/overlay.ts
 * remove()), so a process that is about to exit does not cut it short; not
 * per mount, since one process may serve many (the builder's mount worker)
 * and a closing mount must not hold up the others. What is left when the
 * time is up, the next mount of that work area clears. Returns how many
 * trees are still queued.
 */
export function settleBackgroundWork(timeoutMs = 10_000): number {
  return drainRemovals(timeoutMs);
}

/**
 * Serves the overlay until it is unmounted; resolves with the exit code.
 * Errors before the mount is up are reported and resolve non-zero.
 */
export async function runServer(mountpoint: string, opts: ParsedMountOptions, sopts: ServerOptions = {}): Promise<number> {
  const mp = path.resolve(mountpoint);
  // Modes of new entries arrive with the caller's umask applied by the
  // kernel; the server's own must not take more away (under umask 0, touch
  // gave 0644). This process exists to serve mounts (a daemon, the
  // builder's mount worker, or `strata mount -f`).
  process.umask(0);
  let overlay: Overlay;
  let server: FuseServer;
  let finished!: (code: number) => void;
  const done = new Promise<number>((r) => (finished = r));
  try {
    const transport = chooseTransport(opts.transport);
    validateMount(mp, opts);
    prepareTransport(transport);
    let work: string | undefined;
    if (opts.upperDir !== undefined && opts.workDir !== undefined) {
      work = workArea(opts.workDir);
      // Whatever an earlier (killed) server left half-built is garbage: never visible, safe to drop.
      fs.rmSync(work, { recursive: true, force: true });
      fs.mkdirSync(work, { mode: 0o700 });
    }
    overlay = new Overlay({ lowerDirs: opts.lowerDirs, upperDir: opts.upperDir, workDir: work, whiteout: opts.whiteout, noSync: opts.noSync, redirectDir: opts.redirectDir, indexDir: opts.workDir && path.join(opts.workDir, 'strata-index') });
    // The everyday code paths, compiled before the mount takes its first
    // request (core/warmup.ts). Before the mount, not after it: run later,
    // it held up the first requests of a user who started at once (15 ms).
    if (process.env.STRATA_WARMUP !== '0') warmUp(exerciseTransport(transport));
    // Every path starts at the root: its merged listing (a readdir in each
    // layer) is read now rather than by the first lookup, which then finds
    // its name, or its absence, in memory even on a cold cache.
    overlay.tree.children(overlay.tree.root);
    let ended = false;
    const onUnmounted = () => {
      if (ended) return;
      ended = true;
      overlay.close();
      removeState(mp);
      finished(0);
    };
    server = await serveWith(transport, overlay, mp, {
      readOnly: opts.readOnly || opts.upperDir === undefined,
      // Like kernel overlayfs (and fuse-overlayfs run as root): a root mount is
      // seen by every user, with the kernel checking permissions on mode bits.
      allowOther: opts.allowOther ?? process.getuid?.() === 0,
      defaultPermissions: opts.defaultPermissions ?? true,
      // Root mounts honour device nodes and setuid bits as a kernel overlay
      // mount does (builds run sudo, ping, device nodes); nodev/nosuid turn them off.
      dev: opts.dev ?? process.getuid?.() === 0,
      suid: opts.suid ?? process.getuid?.() === 0,
      noatime: opts.noatime,
      attrTimeout: opts.attrTimeout,
      entryTimeout: opts.entryTimeout,
      lowerPassthrough: opts.lowerPassthrough,
      dirCache: opts.dirCache === false ? undefined : typeof opts.dirCache === 'string' ? opts.dirCache : dirCacheDir(),
      onUnmounted,
    });
  } catch (err) {
    const code = err instanceof StrataError ? err.exitCode : 1;
    let msg = err instanceof Error ? err.message : String(err);
    // libfuse has said why on stderr (the starter shows it); name the mount here.
    if (/^fuse_(mount|new) failed/.test(msg)) msg = `cannot mount ${mp} with FUSE`;
    if (sopts.readyFd !== undefined) report(sopts.readyFd, `ERROR ${code} ${msg.replace(/\n/g, ' ')}`);
    else process.stderr.write(`strata: ${msg}\n`);
    return code;
  }
  const statsFile = statsFileFor(mp);
  writeState({ pid: process.pid, mountpoint: mp, options: opts, statsFile });
  process.on('SIGUSR2', () => {
    fs.writeFileSync(statsFile + '.tmp', JSON.stringify(server.stats.toJSON(), null, 2), { mode: 0o600 });
    fs.renameSync(statsFile + '.tmp', statsFile);
  });
  // A bug in one operation must not take the mount down with it (a dead
  // mount answers ENOTCONN to everyone): log it and keep serving.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`strata server ${mp}: uncaught: ${err instanceof Error ? err.stack : String(err)}\n`);
  });
  const stop = () => {
    unmountPath(mp).catch(() => undefined);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', stop);
  report(sopts.readyFd, 'READY');
  return done;
}
