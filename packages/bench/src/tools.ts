// Builds the benchmark's C tools (tools/NAME.c) once per source version, into
// the OS temp dir, never into the repo (no binaries are committed), and
// returns the binary's path.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';

/** fsops: one syscall a file (create, stat, rename, getxattr); fuseprobe: the FUSE round trip of a server that does nothing. */
export type ToolName = 'fsops' | 'fuseprobe';

const built = new Map<ToolName, Promise<string>>();

/** Path of the compiled tool; compiles it with `cc` on first call. */
export function toolBinary(name: ToolName): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const source = fileURLToPath(new URL(`../tools/${name}.c`, import.meta.url));
      const tag = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
      const bin = path.join(os.tmpdir(), `strata-bench-${name}-${tag}`);
      if (!existsSync(bin)) {
        // Build beside the target, then rename: concurrent benches never run a half-written binary.
        const tmp = `${bin}.${process.pid}`;
        await run('cc', ['-O2', '-Wall', '-o', tmp, source]);
        await rename(tmp, bin);
      }
      return bin;
    })();
    built.set(name, p);
  }
  return p;
}

/** Path of the compiled fsops tool. */
export function fsopsBinary(): Promise<string> {
  return toolBinary('fsops');
}
