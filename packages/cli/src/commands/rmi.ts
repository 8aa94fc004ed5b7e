import { openStore } from '@strata/store';
import { positionals, type Command } from '../command.ts';

export const rmi: Command = {
  name: 'rmi',
  summary: 'Remove image tags (blobs and snapshots go at the next gc)',
  usage: 'Usage: strata rmi IMAGE...\n\nRemoves the tags; run `strata gc` to free the space.',
  async run(args, ctx) {
    const names = positionals(rmi, args, 1, 1024);
    const store = await openStore(ctx.root);
    for (const n of names) {
      await store.untag(n);
      if (!ctx.json) ctx.stdout.write(`untagged ${n}\n`);
    }
    if (ctx.json) ctx.stdout.write(JSON.stringify({ untagged: names }) + '\n');
  },
};
