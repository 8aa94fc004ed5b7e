// `strata push IMAGE [REF]`: sends an image from the store to a registry.
import { openStore } from '@strata/store';
import { pushImage, progressFor } from '@strata/registry';
import { positionals, strs, type Command } from '../command.ts';
import { clientOptions, intOption, registryOptions, registryUsage } from '../registry-options.ts';

export const push: Command = {
  name: 'push',
  summary: 'Push an image to a registry (HOST[:PORT]/REPO[:TAG])',
  usage: [
    'Usage: strata push [OPTIONS] IMAGE [HOST[:PORT]/REPO[:TAG|@DIGEST]]',
    '',
    'Pushes local image IMAGE; without a destination IMAGE must itself name a',
    'registry. Blobs the repository already has are not sent again. The',
    'manifest goes up byte for byte, so its digest is the local one.',
    '',
    'Options:',
    '  --concurrency N                   blobs in flight at once (default 4)',
    '  --chunk-size BYTES                upload in PATCH chunks of this size instead of one PUT',
    '  --mount-from REPO                 try a cross-repository mount from REPO (repeatable)',
    ...registryUsage,
  ].join('\n'),
  options: {
    concurrency: { type: 'string' },
    'chunk-size': { type: 'string' },
    'mount-from': { type: 'string', multiple: true },
    ...registryOptions,
  },
  async run(args, ctx) {
    const [image, dest] = positionals(this, args, 1, 2);
    const store = await openStore(ctx.root);
    const result = await pushImage(store, image!, dest, {
      ...clientOptions(args),
      concurrency: intOption(args, 'concurrency', 4, this.name),
      chunkSize: intOption(args, 'chunk-size', undefined, this.name),
      mountFrom: strs(args, 'mount-from'),
      progress: ctx.json ? undefined : progressFor(ctx.stderr),
    });
    if (ctx.json) ctx.stdout.write(JSON.stringify(result) + '\n');
    else ctx.stdout.write(`${result.ref}@${result.digest}\n`);
  },
};
