// Every subcommand, in the order `strata --help` lists them. Each lives in
// its own file; add a new one here.
import type { Command } from '../command.ts';
import { version } from './version.ts';
import { importCmd } from './import.ts';
import { exportCmd } from './export.ts';
import { images } from './images.ts';
import { inspect } from './inspect.ts';
import { tag } from './tag.ts';
import { rmi } from './rmi.ts';
import { gcCmd } from './gc.ts';
import { fsckCmd } from './fsck.ts';
import { mount } from './mount.ts';
import { umount } from './umount.ts';
import { which } from './which.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';
import { push } from './push.ts';
import { pull } from './pull.ts';
import { bench } from './bench.ts';
import { buildCmd } from './build.ts';
import { runCmd } from './run.ts';
import { history } from './history.ts';

export const commands: Command[] = [
  buildCmd,
  runCmd,
  history,
  images,
  inspect,
  tag,
  rmi,
  importCmd,
  exportCmd,
  pull,
  push,
  login,
  logout,
  mount,
  umount,
  which,
  gcCmd,
  fsckCmd,
  bench,
  version,
];
