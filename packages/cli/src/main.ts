// The `strata` command: global options, dispatch to a subcommand, and the
// mapping of StrataError classes to exit codes and one-line messages.
import { ExitCode, StrataError, UsageError } from '@strata/common';
import { bool, defaultRoot, parseFor, str, type Command, type Context } from './command.ts';

/** Every command (imports every package: only for listings and unknown names). */
async function allCommands(): Promise<Command[]> {
  return (await import('./commands/index.ts')).commands;
}

/**
 * The command called `name`. Start-up cost matters (a no-change `strata
 * build` is mostly start-up), so commands/NAME.ts is tried first and only
 * that module is loaded; the full list is the fallback.
 */
async function findCommand(name: string): Promise<Command | undefined> {
  if (/^[a-z][a-z0-9-]*$/.test(name)) {
    try {
      const mod = (await import(`./commands/${name}.ts`)) as Record<string, unknown>;
      const hit = Object.values(mod).find((v): v is Command => typeof v === 'object' && v !== null && (v as Command).name === name && typeof (v as Command).run === 'function');
      if (hit) return hit;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  return (await allCommands()).find((c) => c.name === name);
}

function topUsage(commands: Command[]): string {
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
    out.write(topUsage(await allCommands()) + '\n');
    return out === process.stdout ? ExitCode.ok : ExitCode.usage;
  }
  if (name === 'help') {
    const cmd = argv[i + 1] ? await findCommand(argv[i + 1]!) : undefined;
    process.stdout.write((cmd ? cmd.usage : topUsage(await allCommands())) + '\n');
    return ExitCode.ok;
  }
  const cmd = await findCommand(name);
  if (!cmd) {
    process.stderr.write(`strata: unknown command '${name}'\n\n${topUsage(await allCommands())}\n`);
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
