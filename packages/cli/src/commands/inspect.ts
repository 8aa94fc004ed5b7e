import { chainIds } from '@strata/common';
import { openStore } from '@strata/store';
import { positionals, type Command } from '../command.ts';

export const inspect: Command = {
  name: 'inspect',
  summary: 'Show an image: manifest, config, layers with diffIDs, chainIDs and snapshot dirs',
  usage: 'Usage: strata inspect IMAGE\n\nIMAGE is NAME[:TAG], a full name, or a manifest digest (or unique prefix). Prints JSON.',
  async run(args, ctx) {
    const [ref] = positionals(inspect, args, 1);
    const store = await openStore(ctx.root);
    const r = await store.resolve(ref!);
    const chains = chainIds(r.config.rootfs.diff_ids);
    const layers = [];
    for (const [i, l] of r.manifest.layers.entries()) {
      const snap = store.snapshots.dir(chains[i]!);
      layers.push({ ...l, diffId: r.config.rootfs.diff_ids[i], chainId: chains[i], snapshot: (await store.snapshots.exists(chains[i]!)) ? snap : null });
    }
    const out = {
      name: r.ref,
      digest: r.manifestDescriptor.digest,
      mediaType: r.manifestDescriptor.mediaType,
      config: r.config,
      configDigest: r.configDescriptor.digest,
      layers,
      annotations: r.manifest.annotations ?? {},
    };
    ctx.stdout.write(JSON.stringify(out, null, ctx.json ? undefined : 2) + '\n');
  },
};
