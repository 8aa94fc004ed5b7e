import { openStore } from '@strata/store';
import { positionals, printTable, type Command } from '../command.ts';

/** Human-readable byte count (base 1000 like podman). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export const images: Command = {
  name: 'images',
  summary: 'List the tagged images in the store',
  usage: 'Usage: strata images [--json]\n\nColumns: NAME, DIGEST (manifest), LAYERS, SIZE (compressed blobs), CREATED.',
  async run(args, ctx) {
    positionals(images, args, 0);
    const store = await openStore(ctx.root);
    const rows = [];
    for (const im of await store.images()) {
      try {
        const r = await store.resolve(im.name);
        const size = r.manifest.layers.reduce((a, l) => a + l.size, r.configDescriptor.size + r.manifestDescriptor.size);
        rows.push({ name: im.name, digest: im.descriptor.digest, layers: r.manifest.layers.length, size, created: r.config.created ?? '', error: null as string | null });
      } catch (err) {
        // One broken image must not hide the others; fsck says more.
        rows.push({ name: im.name, digest: im.descriptor.digest, layers: 0, size: 0, created: '', error: (err as Error).message });
      }
    }
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify(rows) + '\n');
      return;
    }
    printTable(ctx.stdout, ['NAME', 'DIGEST', 'LAYERS', 'SIZE', 'CREATED'],
      rows.map((r) => [r.name, r.digest.slice(7, 19), r.error ? '?' : String(r.layers), r.error ? '?' : humanSize(r.size), r.error ? `broken: ${r.error}` : r.created]));
  },
};
