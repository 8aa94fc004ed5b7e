import { importArchive, openStore } from '@strata/store';
import { positionals, type Command } from '../command.ts';

export const importCmd: Command = {
  name: 'import',
  summary: 'Import an OCI layout tar, a docker save tar, or a root filesystem tar as an image',
  usage: [
    'Usage: strata import FILE [NAME[:TAG]] [--json]',
    '',
    'FILE is an OCI image layout tar (skopeo copy ... oci-archive:), a `docker save`',
    'or `podman save` tar, or a plain root filesystem tar (imported as a one-layer',
    'image, like `docker import`); gzip and zstd compression are detected.',
    'NAME defaults to the names the archive carries, else to the file name.',
    'Short names are stored as localhost/NAME:latest.',
  ].join('\n'),
  async run(args, ctx) {
    const [file, name] = positionals(importCmd, args, 1, 2);
    const store = await openStore(ctx.root);
    const res = await importArchive(store, file!, name);
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify({ kind: res.kind, images: res.images.map((i) => ({ name: i.name, digest: i.descriptor.digest })) }) + '\n');
      return;
    }
    for (const im of res.images) ctx.stdout.write(`imported ${im.name} ${im.descriptor.digest} (${res.kind})\n`);
  },
};
