// `strata umount`: unmount a strata mount and wait for its server to exit.
// A mount whose server died (SIGKILL) is detached lazily.
import fs from 'node:fs';
import path from 'node:path';
import { NotFound } from '@strata/common';
import { alive, mountPoints, readState, unmountPath, unmountWait } from '@strata/overlay';
import { positionals, type Command } from '../command.ts';

export const umount: Command = {
  name: 'umount',
  summary: 'Unmount a strata mount, waiting for its server to exit',
  usage: 'Usage: strata umount MOUNTPOINT',
  async run(args) {
    const [arg] = positionals(umount, args, 1);
    const mp = path.resolve(arg!);
    if (!mountPoints().has(mp)) throw new NotFound(`${mp}: not mounted`);
    const state = readState(mp);
    let dead = false;
    try {
      fs.statSync(mp);
    } catch (err) {
      dead = ['ENOTCONN', 'ECONNABORTED'].includes((err as NodeJS.ErrnoException).code ?? '');
    }
    if (dead || (state && !alive(state.pid))) {
      await unmountPath(mp, true);
      return 0;
    }
    await unmountWait(mp, state?.pid);
    return 0;
  },
};
