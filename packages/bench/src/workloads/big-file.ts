// The layer of one big lower file that the sequential and random read
// workloads share.
import path from 'node:path';
import type { Sizes } from '../types.ts';
import { makeBigFile } from '../layers.ts';

export const BIG_FILE = 'big.bin';

export async function prepareBigFile(dir: string, sizes: Sizes): Promise<string[]> {
  const layer = path.join(dir, 'l0');
  makeBigFile(path.join(layer, BIG_FILE), sizes.seqFileBytes);
  return [layer];
}
