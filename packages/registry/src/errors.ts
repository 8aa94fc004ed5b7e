// Errors of the registry client. They extend the common hierarchy so the CLI
// maps them to exit codes; each message names the registry, repository and,
// where one is at fault, the blob or manifest digest.
import { StrataError, ExitCode } from '@strata/common';

/**
 * The registry refused our credentials (or demanded some we do not have).
 * Never retried: repeating a wrong password only gets an account locked.
 */
export class Unauthorized extends StrataError {
  override get exitCode(): number {
    return ExitCode.failure;
  }
}

/** The registry answered with an error status we do not retry (4xx), or kept failing after the retries. */
export class RegistryError extends StrataError {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}
