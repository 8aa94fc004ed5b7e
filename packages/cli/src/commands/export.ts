import { exportImage, openStore } from '@strata/store';
import { UsageError } from '@strata/common';
import { positionals, str, type Command } from '../command.ts';

export const exportCmd: Command = {
  name: 'export',
  summary: 'Write an image as an OCI layout tar or a docker save tar',
  usage: [
    'Usage: strata export IMAGE -o FILE [--format oci|docker]',
    '',
    '  -o, --output FILE   the archive to write (replaced atomically; - for stdout)',
    '  --format oci        OCI image layout tar (default; skopeo copy oci-archive:FILE ...)',
    '  --format docker     docker save tar (podman load -i FILE, docker load -i FILE)',
  ].join('\n'),
  options: { output: { type: 'string', short: 'o' }, format: { type: 'string' } },
  async run(args, ctx) {
    const [image] = positionals(exportCmd, args, 1);
    const out = str(args, 'output');
    if (!out) throw new UsageError(`strata export: -o FILE is required\n\n${exportCmd.usage}`);
    const format = str(args, 'format') ?? 'oci';
    if (format !== 'oci' && format !== 'docker') throw new UsageError(`strata export: --format must be oci or docker, not ${format}`);
    const store = await openStore(ctx.root);
    const res = await exportImage(store, image!, out, format);
    if (out === '-') return; // stdout carries the archive
    if (ctx.json) ctx.stdout.write(JSON.stringify({ name: res.name, digest: res.manifest, file: out, format }) + '\n');
    else ctx.stdout.write(`exported ${res.name} ${res.manifest} to ${out} (${format})\n`);
  },
};
