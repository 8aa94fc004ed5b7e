import { createRequire } from 'node:module';
import type { Command } from '../command.ts';

const require = createRequire(import.meta.url);

export const version: Command = {
  name: 'version',
  summary: 'Print the strata version',
  usage: 'Usage: strata version [--json]',
  async run(_args, ctx) {
    const pkg = require('../../package.json') as { version: string };
    const info = { strata: pkg.version, node: process.version };
    ctx.stdout.write(ctx.json ? JSON.stringify(info) + '\n' : `strata ${info.strata} (node ${info.node})\n`);
  },
};
