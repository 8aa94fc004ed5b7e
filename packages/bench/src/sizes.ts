// Workload sizes: the full sizes, and --quick ones small enough that
// all five drivers finish well inside a CI minute or two on 2 cores.
import type { Sizes } from './types.ts';

const MiB = 1 << 20;

export const FULL_SIZES: Sizes = {
  seqFileBytes: 1024 * MiB,
  copyUpFileBytes: 256 * MiB,
  createFiles: 10_000,
  statFiles: 10_000,
  findFiles: 20_000,
  findLayers: [1, 8, 32],
  rmFiles: 5_000,
  renameFiles: 1_000,
  untarBytes: 235 * MiB,
  untarEntries: 9_500,
  xattrCalls: 20_000,
  fioRuntimeSec: 20,
  settleMs: 4000,
};

export const QUICK_SIZES: Sizes = {
  seqFileBytes: 64 * MiB,
  copyUpFileBytes: 16 * MiB,
  createFiles: 1_000,
  statFiles: 1_000,
  findFiles: 2_000,
  findLayers: [1, 8, 32],
  rmFiles: 500,
  renameFiles: 100,
  untarBytes: 8 * MiB,
  untarEntries: 500,
  xattrCalls: 2_000,
  fioRuntimeSec: 2,
  settleMs: 0,
};
