import { positionals, printTable, bool, type Command } from '../command.ts';

function human(n: number): string {
  if (n < 1000) return `${n}B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}

export const history: Command = {
  name: 'history',
  summary: "Show an image's layers: the instruction that made each, its size, whether it came from cache",
  usage: [
    'Usage: strata history [--no-trunc] [--json] IMAGE',
    '',
    'Newest first. SIZE is the compressed layer blob ("0B" for config-only steps);',
    'CACHE says whether the build that made the image took the step from its cache',
    '("-" for steps of the base image or images not built here).',
  ].join('\n'),
  options: { 'no-trunc': { type: 'boolean' } },
  async run(args, ctx) {
    const [ref] = positionals(history, args, 1);
    const { openStore } = await import('@strata/store');
    const { BuildCache } = await import('@strata/builder');
    const store = await openStore(ctx.root);
    const img = await store.resolve(ref!);
    const info = await new BuildCache(store).buildInfo(img.manifestDescriptor.digest);
    const cachedAt = new Map((info ?? []).map((s) => [s.index, s.cached]));
    const hist = img.config.history ?? [];
    const rows: Array<{ created: string; createdBy: string; size: number; layer: string | null; cached: boolean | null }> = [];
    let li = 0;
    hist.forEach((h, i) => {
      const layer = h.empty_layer ? undefined : img.manifest.layers[li++];
      rows.push({
        created: h.created ?? '',
        createdBy: h.created_by ?? '',
        size: layer?.size ?? 0,
        layer: layer?.digest ?? null,
        cached: cachedAt.has(i) ? cachedAt.get(i)! : null,
      });
    });
    rows.reverse();
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify(rows) + '\n');
      return;
    }
    const trunc = !bool(args, 'no-trunc');
    printTable(ctx.stdout, ['LAYER', 'CREATED', 'SIZE', 'CACHE', 'CREATED BY'], rows.map((r) => [
      r.layer ? r.layer.slice(7, 19) : '<none>',
      r.created.replace(/\.\d+Z$/, 'Z'),
      human(r.size),
      r.cached === null ? '-' : r.cached ? 'cached' : 'built',
      trunc && r.createdBy.length > 70 ? r.createdBy.slice(0, 67) + '...' : r.createdBy,
    ]));
  },
};
