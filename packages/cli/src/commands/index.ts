// Every subcommand, in the order `strata --help` lists them. Each lives in
// its own file; add a new one here.
import type { Command } from '../command.ts';
import { version } from './version.ts';
import { bench } from './bench.ts';

export const commands: Command[] = [
  version,
  bench,
];
