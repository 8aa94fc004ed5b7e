// Every subcommand, in the order `strata --help` lists them. Each lives in
// its own file; add a new one here.
import type { Command } from '../command.ts';
import { version } from './version.ts';
import { importCmd } from './import.ts';
import { images } from './images.ts';
import { mount } from './mount.ts';
import { umount } from './umount.ts';
import { which } from './which.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';
import { bench } from './bench.ts';
import { buildCmd } from './build.ts';
import { runCmd } from './run.ts';
import { history } from './history.ts';

export const commands: Command[] = [
  mount,
  umount,
  which,
  version,
  importCmd,
  images,
  login,
  logout,
  buildCmd,
  runCmd,
  history,
  bench,
];
