// `strata pull REF`: fetches an image from a registry into the store and tags it.
import { UsageError } from '@strata/common';
import { openStore } from '@strata/store';
import { pullImage, progressFor, parsePlatform } from '@strata/registry';
import { positionals, str, type Command } from '../command.ts';
import { clientOptions, intOption, registryOptions, registryUsage } from '../registry-options.ts';

export const pull: Command = {
  name: 'pull',
  summary: 'Pull an image from a registry into the store',
  usage: [
    'Usage: strata pull [OPTIONS] HOST[:PORT]/REPO[:TAG|@DIGEST]',
    '',
    'Every blob is verified against its digest before it enters the store;',
    'the image is tagged HOST[:PORT]/REPO:TAG (REPO:sha256-HEX for a digest).',
    'From a multi-platform index the image for this machine is chosen.',
    '',
    'Options:',
    '  --platform OS/ARCH[/VARIANT]      choose another platform from an index',
    '  --concurrency N                   blobs in flight at once (default 4)',
    ...registryUsage,
  ].join('\n'),
  options: {
    platform: { type: 'string' },
    concurrency: { type: 'string' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const [ref] = positionals(this, args, 1);
    const p = str(args, 'platform');
    if (p !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p)) throw new UsageError(`strata pull: --platform wants OS/ARCH[/VARIANT], got ${JSON.stringify(p)}`);
    const store = await openStore(ctx.root);
    const result = await pullImage(store, ref!, {
      ...clientOptions(args),
      concurrency: intOption(args, 'concurrency', 4, this.name),
      platform: p ? parsePlatform(p) : undefined,
      progress: ctx.json ? undefined : progressFor(ctx.stderr),
    });
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify({ ref: result.ref, name: result.name, digest: result.descriptor.digest, fetched: result.transferred, present: result.present }) + '\n');
    } else {
      ctx.stdout.write(`${result.name}@${result.descriptor.digest}\n`);
    }
  },
};
