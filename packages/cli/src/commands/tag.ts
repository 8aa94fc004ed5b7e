import { openStore } from '@strata/store';
import { positionals, type Command } from '../command.ts';

export const tag: Command = {
  name: 'tag',
  summary: 'Give an image another name',
  usage: 'Usage: strata tag IMAGE NEW_NAME[:TAG]...\n\nShort names are stored as localhost/NAME:latest.',
  async run(args, ctx) {
    const [src, ...names] = positionals(tag, args, 2, 64);
    const store = await openStore(ctx.root);
    const r = await store.resolve(src!);
    for (const n of names) await store.tag(n, r.manifestDescriptor);
  },
};
