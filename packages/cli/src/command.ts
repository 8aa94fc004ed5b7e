// What every `strata` subcommand is: a name, a one-line summary, a usage
// text for --help, and run(). Subcommands live one per file in commands/.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '@strata/common';

export interface Context {
  /** The store root: --root, else $STRATA_ROOT, else the default for this user. */
  root: string;
  /** Print machine-readable JSON instead of tables. */
  json: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface Command {
  name: string;
  summary: string;
  /** Full help text: usage line first, then options. */
  usage: string;
  /** Options for node:util parseArgs (the global ones are added). */
  options?: ParseArgsConfig['options'];
  /** Runs the command; returns the exit code (0 if nothing is returned). */
  run(args: ParsedArgs, ctx: Context): Promise<number | void>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function defaultRoot(): string {
  if (process.env.STRATA_ROOT) return process.env.STRATA_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/strata';
  return path.join(os.homedir(), '.local', 'share', 'strata');
}

export const globalOptions = {
  root: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

/** Parses argv for `cmd`, turning node's parse errors into UsageError. */
export function parseFor(cmd: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...globalOptions, ...cmd.options },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (err) {
    throw new UsageError(`strata ${cmd.name}: ${(err as Error).message}\n\n${cmd.usage}`);
  }
}

/** A string option's value (last one wins), or undefined. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable string option's values. */
export function strs(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function bool(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Exactly `min`..`max` positionals, else UsageError with the usage text. */
export function positionals(cmd: Command, args: ParsedArgs, min: number, max = min): string[] {
  const p = args.positionals;
  if (p.length < min || p.length > max) {
    throw new UsageError(`strata ${cmd.name}: expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${p.length}\n\n${cmd.usage}`);
  }
  return p;
}

/** Prints rows as an aligned table. */
export function printTable(out: NodeJS.WritableStream, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  out.write(line(header) + '\n');
  for (const r of rows) out.write(line(r) + '\n');
}
