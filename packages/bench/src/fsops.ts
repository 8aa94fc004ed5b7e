// Builds tools/fsops.c once per source version (into the OS temp dir, never
// into the repo: no binaries are committed) and returns the binary's path.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';

const SOURCE = fileURLToPath(new URL('../tools/fsops.c', import.meta.url));
let built: Promise<string> | undefined;

/** Path of the compiled fsops tool; compiles it with `cc` on first call. */
export function fsopsBinary(): Promise<string> {
  built ??= (async () => {
    const src = readFileSync(SOURCE);
    const tag = createHash('sha256').update(src).digest('hex').slice(0, 12);
    const bin = path.join(os.tmpdir(), `strata-bench-fsops-${tag}`);
    if (!existsSync(bin)) {
      // Build beside the target, then rename: concurrent benches never run a half-written binary.
      const tmp = `${bin}.${process.pid}`;
      await run('cc', ['-O2', '-Wall', '-o', tmp, SOURCE]);
      await rename(tmp, bin);
    }
    return bin;
  })();
  return built;
}
