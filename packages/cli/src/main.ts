// The `strata` command: global options, dispatch to a subcommand, and the
// mapping of StrataError classes to exit codes and one-line messages.
import { ExitCode, StrataError, UsageError } from '@strata/common';
import { commands } from './commands/index.ts';
import { bool, defaultRoot, parseFor, str, type Context } from './command.ts';

function topUsage(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: strata [--root DIR] [--json] COMMAND [ARGS...]',
    '',
    'A layered copy-on-write filesystem and image builder.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}   ${c.summary}`),
    '',
    'Global options:',
    '  --root DIR   store root (default: $STRATA_ROOT, /var/lib/strata as root, ~/.local/share/strata otherwise)',
    '  --json       machine-readable output where a listing is printed',
    '  -h, --help   help for strata or for a command',
    '',
    "Run 'strata COMMAND --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  // Global options may come before the command name.
  const pre: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') { pre.push(a, argv[++i] ?? ''); continue; }
    if (a.startsWith('--root=') || a === '--json' || a === '-h' || a === '--help') { pre.push(a); continue; }
    break;
  }
  const name = argv[i];
  if (name === undefined) {
    const out = pre.some((a) => a === '-h' || a === '--help') ? process.stdout : process.stderr;
    out.write(topUsage() + '\n');
    return out === process.stdout ? ExitCode.ok : ExitCode.usage;
  }
  if (name === 'help') {
    const cmd = commands.find((c) => c.name === argv[i + 1]);
    process.stdout.write((cmd ? cmd.usage : topUsage()) + '\n');
    return ExitCode.ok;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`strata: unknown command '${name}'\n\n${topUsage()}\n`);
    return ExitCode.usage;
  }
  try {
    const args = parseFor(cmd, [...pre, ...argv.slice(i + 1)]);
    if (bool(args, 'help')) {
      process.stdout.write(cmd.usage + '\n');
      return ExitCode.ok;
    }
    const ctx: Context = {
      root: str(args, 'root') ?? defaultRoot(),
      json: bool(args, 'json'),
      stdout: process.stdout,
      stderr: process.stderr,
    };
    return (await cmd.run(args, ctx)) ?? ExitCode.ok;
  } catch (err) {
    if (err instanceof StrataError) {
      process.stderr.write(`${err instanceof UsageError ? '' : 'strata: '}${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`strata: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return ExitCode.failure;
  }
}
