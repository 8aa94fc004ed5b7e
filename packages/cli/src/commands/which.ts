// `strata which MOUNTPOINT PATH`: which layer serves PATH in a strata mount.
// Reads the layers directly (they are what the server serves), never the mount.
import path from 'node:path';
import { NotFound } from '@strata/common';
import { Overlay, readState } from '@strata/overlay';
import { positionals, type Command } from '../command.ts';

export const which: Command = {
  name: 'which',
  summary: 'Say which layer of a strata mount serves a path',
  usage: 'Usage: strata which [--json] MOUNTPOINT PATH\n\nPATH is inside the mount (absolute, or relative to MOUNTPOINT).',
  async run(args, ctx) {
    const [mp, p] = positionals(which, args, 2);
    const state = readState(path.resolve(mp!));
    if (!state) throw new NotFound(`${mp}: no strata mount recorded there`);
    const abs = path.resolve(mp!);
    let rel = path.resolve(abs, p!);
    if (rel !== abs && !rel.startsWith(abs + '/')) rel = path.resolve('/', p!);
    else rel = rel.slice(abs.length) || '/';
    const ov = new Overlay({ lowerDirs: state.options.lowerDirs, upperDir: state.options.upperDir });
    let w;
    try {
      w = ov.which(rel);
    } catch {
      throw new NotFound(`${rel}: not in the merged view of ${abs}`);
    }
    const desc = ov.layers.describe(w.layer);
    if (ctx.json) ctx.stdout.write(JSON.stringify({ path: rel, layer: w.layer, kind: w.layer === 0 && ov.layers.hasUpper ? 'upper' : 'lower', layerDir: ov.layers.roots[w.layer], hostPath: w.hostPath }) + '\n');
    else ctx.stdout.write(`${rel}: ${desc} (${w.hostPath})\n`);
    return 0;
  },
};
