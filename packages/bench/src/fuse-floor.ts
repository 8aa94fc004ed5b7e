// The FUSE round trip of this machine with no file system behind it: a
// server that answers each request at once (tools/fuseprobe.c). Every
// request a FUSE driver gets costs at least this much; what a driver adds
// above it is its own. Measured once per benchmark, beside the machine facts.
import { mkdtemp, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@strata/common';
import { toolBinary } from './tools.ts';
import { summarize } from './stats.ts';
import { isMounted } from './drivers/mounts.ts';

export type FuseFloor =
  | { requestUs: number; syscallUs: number; runs: number[]; calls: number }
  | { error: string };

/** Median of three fuseprobe runs of `calls` getxattr(2) each, mounted in a temporary directory under `parent`. */
export async function measureFuseFloor(parent: string, calls: number): Promise<FuseFloor> {
  let dir: string | undefined;
  try {
    const bin = await toolBinary('fuseprobe');
    dir = await mkdtemp(path.join(parent, 'strata-fuseprobe-'));
    const request: number[] = [];
    const syscall: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await run(bin, [dir, String(calls)], { timeoutMs: 150_000 });
      const [r, s] = res.stdout.trim().split(/\s+/).map(Number);
      if (!(r! > 0 && s! > 0)) return { error: `fuseprobe printed ${JSON.stringify(res.stdout.trim())}` };
      request.push(r!);
      syscall.push(s!);
    }
    return { requestUs: summarize(request).median, syscallUs: summarize(syscall).median, runs: request, calls };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  } finally {
    if (dir) {
      // The probe unmounts itself, and its server does when it is killed; a mount found here anyway goes.
      if (await isMounted(dir)) await run('umount', ['-l', dir], { allowFailure: true });
      await rmdir(dir).catch(() => undefined);
    }
  }
}
