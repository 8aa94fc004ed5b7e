// Every workload, in report order; find runs once per layer depth.
import type { Sizes, Workload } from '../types.ts';
import { seqRead } from './seq-read.ts';
import { randRead } from './rand-read.ts';
import { seqWrite } from './seq-write.ts';
import { copyUp } from './copy-up.ts';
import { create } from './create.ts';
import { statFiles } from './stat.ts';
import { findWorkload } from './find.ts';
import { rmRf } from './rm-rf.ts';
import { renameDir } from './rename.ts';
import { untar } from './untar.ts';
import { xattrRoundTrip } from './xattr.ts';

export function allWorkloads(sizes: Sizes): Workload[] {
  return [
    seqRead, randRead, seqWrite, copyUp, xattrRoundTrip, create, statFiles,
    ...sizes.findLayers.map(findWorkload),
    rmRf, renameDir, untar,
  ];
}

/**
 * The workloads named in `names` (ids like "find-32", or "find" for every
 * depth); all of them when `names` is empty. Unknown names are returned in `unknown`.
 */
export function selectWorkloads(sizes: Sizes, names: string[]): { selected: Workload[]; unknown: string[] } {
  const all = allWorkloads(sizes);
  if (names.length === 0) return { selected: all, unknown: [] };
  const matches = (w: Workload, n: string) => w.id === n || w.id.startsWith(`${n}-`) && /^\d+$/.test(w.id.slice(n.length + 1));
  const unknown = names.filter((n) => !all.some((w) => matches(w, n)));
  return { selected: all.filter((w) => names.some((n) => matches(w, n))), unknown };
}
