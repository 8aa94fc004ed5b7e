// Every subcommand, in the order `strata --help` lists them. Each lives in
// its own file; add a new one here.
import type { Command } from '../command.ts';
import { version } from './version.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';

export const commands: Command[] = [
  version,
  login,
  logout,
];
