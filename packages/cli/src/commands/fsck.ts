import { ExitCode } from '@strata/common';
import { fsck, openStore } from '@strata/store';
import { bool, positionals, type Command } from '../command.ts';
import { humanSize } from './images.ts';

export const fsckCmd: Command = {
  name: 'fsck',
  summary: 'Re-verify every blob and every image; --repair quarantines corrupt blobs',
  usage: [
    'Usage: strata fsck [--repair] [--json]',
    '',
    '  --repair   move corrupt blobs to <root>/quarantine/ (re-import or pull to heal)',
    '',
    `Exit status ${ExitCode.invalid} if a problem remains (a corrupt blob without --repair, an image missing a blob).`,
  ].join('\n'),
  options: { repair: { type: 'boolean' } },
  async run(args, ctx) {
    positionals(fsckCmd, args, 0);
    const store = await openStore(ctx.root);
    const res = await fsck(store, { repair: bool(args, 'repair') });
    const remaining = res.problems.filter((p) => !(p.kind === 'corrupt' && p.quarantined));
    if (ctx.json) ctx.stdout.write(JSON.stringify(res) + '\n');
    else {
      for (const p of res.problems) ctx.stdout.write(`${p.kind}: ${p.message}${p.quarantined ? ` (moved to ${p.quarantined})` : ''}\n`);
      ctx.stdout.write(`checked ${res.blobsChecked} blobs (${humanSize(res.bytesChecked)}): ${res.problems.length} problem(s)\n`);
    }
    return remaining.length ? ExitCode.invalid : ExitCode.ok;
  },
};
