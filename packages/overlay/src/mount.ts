// mountOverlay(): the library way to get a strata mount. The server runs in
// its own process (a process must never call synchronously into a FUSE
// mount it serves itself), started detached so it outlives its starter
// like fuse-overlayfs does; this resolves once the mount is usable.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessFailed, StrataError, ExitCode, InvalidInput, NotFound, AlreadyExists, UsageError } from '@strata/common';
import type { MountHandle, OverlayOptions } from './types.ts';
import type { ParsedMountOptions } from './options.ts';
import { alive, logFileFor, runDir } from './state.ts';
import { unmountPath } from './unmount.ts';

/** The server entry script (node runs it; it registers tsx itself). */
export const SERVER_ENTRY = fileURLToPath(new URL('../bin/overlay-server.js', import.meta.url));

function errorFor(code: number, msg: string): StrataError {
  switch (code) {
    case ExitCode.usage: return new UsageError(msg);
    case ExitCode.notFound: return new NotFound(msg);
    case ExitCode.invalid: return new InvalidInput(msg);
    case ExitCode.conflict: return new AlreadyExists(msg);
    default: return new StrataError(msg);
  }
}

/** Waits until process `pid` has exited (it is not our child once detached). */
export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Starts a strata FUSE server for `opts` at `mountpoint` and resolves once
 * the mount answers. Bad layers or a busy mountpoint reject with the
 * StrataError the server reported, and nothing stays mounted.
 */
export function mountOverlay(mountpoint: string, opts: OverlayOptions & ParsedMountOptions, spawnOpts: { detached?: boolean } = {}): Promise<MountHandle> {
  const mp = path.resolve(mountpoint);
  const resolved: ParsedMountOptions = {
    ...opts,
    lowerDirs: opts.lowerDirs.map((d) => path.resolve(d)),
    upperDir: opts.upperDir && path.resolve(opts.upperDir),
    workDir: opts.workDir && path.resolve(opts.workDir),
  };
  // The server outlives this process: its stderr goes to a log file (a pipe
  // would break when we go away), which is read back if it fails to start.
  fs.mkdirSync(runDir(), { recursive: true, mode: 0o700 });
  const logFile = logFileFor(mp);
  const logFd = fs.openSync(logFile, 'a');
  // STRATA_SERVER_NODE_ARGS: extra node flags for the server (profiling: "--cpu-prof --cpu-prof-dir=DIR").
  const nodeArgs = (process.env.STRATA_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, SERVER_ENTRY, mp, JSON.stringify(resolved)], {
    stdio: ['ignore', logFd, logFd, 'pipe'],
    detached: spawnOpts.detached ?? true,
    // A daemon must not keep its starter's directory (maybe on a filesystem to be unmounted) busy.
    cwd: '/',
  });
  fs.closeSync(logFd);
  const pid = child.pid!;
  const logTail = () => {
    try {
      return fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
    } catch {
      return '';
    }
  };
  return new Promise((resolve, reject) => {
    let line = '';
    let settled = false;
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (b: Buffer) => {
      line += b.toString();
      if (!line.includes('\n') || settled) return;
      settled = true;
      const msg = line.trim();
      if (msg === 'READY') {
        child.unref();
        (pipe as unknown as { destroy(): void }).destroy();
        resolve(makeHandle(mp, pid));
      } else {
        const m = /^ERROR (\d+) (.*)$/s.exec(msg);
        // libfuse explains a failed mount on stderr (in the log): say it too.
        const tail = logTail();
        fs.rmSync(logFile, { force: true });
        const text = m ? m[2]! + (tail ? ` (${tail.replace(/\n/g, '; ')})` : '') : `strata server: ${msg}`;
        reject(m ? errorFor(Number(m[1]), text) : new StrataError(text));
      }
    });
    child.on('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      const tail = logTail();
      reject(new ProcessFailed(`strata server for ${mp} exited before the mount was ready (${signal ?? code}): ${tail}`, code, signal, tail));
    });
  });
}

function makeHandle(mountpoint: string, pid: number): MountHandle {
  return {
    mountpoint,
    pid,
    async unmount() {
      await unmountWait(mountpoint, pid);
    },
  };
}

/** Unmounts and waits for the server `pid` to exit; a server that will not exit is killed and the mount detached. */
export async function unmountWait(mountpoint: string, pid: number | undefined, timeoutMs = 10000): Promise<void> {
  try {
    await unmountPath(mountpoint);
  } catch (err) {
    if (pid === undefined || !alive(pid)) {
      await unmountPath(mountpoint, true);
      return;
    }
    throw err;
  }
  if (pid !== undefined && !(await waitExit(pid, timeoutMs))) {
    process.kill(pid, 'SIGKILL');
    await waitExit(pid, 2000);
  }
}
