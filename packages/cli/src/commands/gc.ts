import { gc, openStore } from '@strata/store';
import { bool, positionals, type Command } from '../command.ts';
import { humanSize } from './images.ts';

export const gcCmd: Command = {
  name: 'gc',
  summary: 'Remove blobs and snapshots no tag or gc root uses',
  usage: [
    'Usage: strata gc [--prune-cache] [--dry-run] [--json]',
    '',
    '  --prune-cache   drop the build cache roots (gcroots/cache-*) first',
    '  --dry-run       report what would go, remove nothing',
    '',
    'Run it when nothing else writes the store (an import in flight is not a root yet).',
  ].join('\n'),
  options: { 'prune-cache': { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
  async run(args, ctx) {
    positionals(gcCmd, args, 0);
    const store = await openStore(ctx.root);
    const res = await gc(store, { pruneCache: bool(args, 'prune-cache'), dryRun: bool(args, 'dry-run') });
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify(res) + '\n');
      return;
    }
    const verb = bool(args, 'dry-run') ? 'would remove' : 'removed';
    ctx.stdout.write(`${verb} ${res.removedBlobs.length} blobs, ${res.removedSnapshots.length} snapshots, ${res.leftovers} leftovers, ${res.prunedRoots.length} cache roots; ${humanSize(res.freedBytes)} freed\n`);
  },
};
