// `strata logout HOST`: forgets what `strata login HOST` stored.
import { NotFound } from '@strata/common';
import { removeCredentials } from '@strata/registry';
import { positionals, type Command } from '../command.ts';

export const logout: Command = {
  name: 'logout',
  summary: 'Remove stored credentials for a registry',
  usage: 'Usage: strata logout HOST[:PORT]',
  async run(args, ctx) {
    const [host] = positionals(this, args, 1);
    const registry = host!.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
    if (!(await removeCredentials(registry))) throw new NotFound(`strata logout: no stored credentials for ${registry}`);
    ctx.stdout.write(`Removed credentials for ${registry}\n`);
  },
};
