// Options every registry-facing command shares (push, pull, login, and the
// builder's --cache-to/--cache-from): TLS trust and plain-HTTP exceptions.
import type { ParseArgsConfig } from 'node:util';
import type { ClientOptions } from '@strata/registry';
import { UsageError } from '@strata/common';
import { str, strs, type ParsedArgs } from './command.ts';

export const registryOptions = {
  'insecure-registry': { type: 'string', multiple: true },
  'ca-cert': { type: 'string', multiple: true },
} satisfies ParseArgsConfig['options'];

export const registryUsage = [
  '  --insecure-registry HOST[:PORT]   talk plain HTTP to this registry (loopback hosts always are)',
  '  --ca-cert FILE                    trust this PEM CA besides the system CAs',
];

export function clientOptions(args: ParsedArgs): ClientOptions {
  return { insecureRegistries: strs(args, 'insecure-registry'), caCerts: strs(args, 'ca-cert') };
}

/** A positive integer option, or `dflt`. */
export function intOption(args: ParsedArgs, name: string, dflt: number | undefined, cmd: string): number | undefined {
  const v = str(args, name);
  if (v === undefined) return dflt;
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`strata ${cmd}: --${name} wants a positive integer, got ${JSON.stringify(v)}`);
  return n;
}
