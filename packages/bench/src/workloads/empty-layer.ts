// One empty lower layer, for the workloads that only write.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export async function prepareEmptyLayer(dir: string): Promise<string[]> {
  const layer = path.join(dir, 'l0');
  mkdirSync(layer, { recursive: true });
  return [layer];
}
