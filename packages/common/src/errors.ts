// The one error hierarchy of strata. Every error a user can cause is a
// StrataError subclass; the CLI maps the class to an exit code and prints
// only the message (which names the file, line, path or digest at fault).
// Anything else that escapes is a bug and is printed with its stack.

/** Exit codes of the `strata` command. */
export const ExitCode = {
  ok: 0,
  /** The operation failed (I/O, a child process, a build step). */
  failure: 1,
  /** Bad usage: unknown flag, missing argument, malformed option. */
  usage: 2,
  /** A named thing (image, tag, blob, mount, stage) does not exist. */
  notFound: 3,
  /** Input was read but is invalid: corrupt tar, digest mismatch, bad JSON, bad Dockerfile. */
  invalid: 4,
  /** A thing that must not exist already does (a mountpoint in use). */
  conflict: 5,
} as const;

export class StrataError extends Error {
  /** Exit code the CLI uses for this error. */
  get exitCode(): number {
    return ExitCode.failure;
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage. */
export class UsageError extends StrataError {
  override get exitCode(): number {
    return ExitCode.usage;
  }
}

/** The named image, tag, blob, snapshot, stage or path does not exist. */
export class NotFound extends StrataError {
  override get exitCode(): number {
    return ExitCode.notFound;
  }
}

/** Something that must be new already exists. */
export class AlreadyExists extends StrataError {
  override get exitCode(): number {
    return ExitCode.conflict;
  }
}

/** Input that was read is malformed: a corrupt archive, bad JSON, an unsafe path. */
export class InvalidInput extends StrataError {
  override get exitCode(): number {
    return ExitCode.invalid;
  }
}

/** Content did not hash or size to what was expected. */
export class DigestMismatch extends InvalidInput {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: digest mismatch: expected ${expected}, got ${actual}`);
  }
}

/** A child process (runc, a RUN command, tar) exited non-zero. */
export class ProcessFailed extends StrataError {
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    super(message);
  }
  override get exitCode(): number {
    return this.code && this.code > 0 && this.code < 126 ? this.code : ExitCode.failure;
  }
}

/** Node fs errors carry .code; this narrows to them. */
export function isErrno(err: unknown, code?: string): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (err as NodeJS.ErrnoException).code === code);
}
