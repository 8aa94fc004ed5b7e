// Errors the overlay core raises carry an errno code ("ENOENT", ...) like
// Node's fs errors, so any transport maps them to a FUSE reply the same way.
import { constants } from 'node:os';

/** An errno-shaped error raised by the overlay core itself (not by a syscall). */
export class FsError extends Error {
  constructor(
    readonly code: string,
    readonly path?: string,
  ) {
    // ENOENT from lookups is the commonest reply of a filesystem; a stack
    // trace per error is measurable, and says nothing about the caller's mistake.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(path ? `${code}: ${path}` : code);
    Error.stackTraceLimit = limit;
  }
}

/** Throws FsError(code) for `path`. */
export function fail(code: keyof typeof constants.errno, path?: string): never {
  throw new FsError(code, path);
}

const errnos = constants.errno as Record<string, number>;

/** The negative errno for an error from the core or from fs; EIO for anything else. */
export function toErrno(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in errnos) return -errnos[code]!;
  return -errnos.EIO!;
}
