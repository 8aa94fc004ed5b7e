// The FUSE round trip of this machine with no file system behind it: a
// server that answers each request at once (tools/fuseprobe.c), timed by
// the same `fsops xattr` the xattr workload runs on every driver, and the
// same getxattr(2) on the local file system. Every request a FUSE driver
// gets costs at least this much; what a driver adds above it is its own.
// Measured before the workloads and again after them (this machine's round
// trip moves by 20% from one half hour to the next), and reported beside
// the machine facts.
import { mkdtemp, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@strata/common';
import { toolBinary } from './tools.ts';
import { summarize } from './stats.ts';
import { isMounted } from './drivers/mounts.ts';

/** Microseconds per getxattr(2) of each fuseprobe run: through FUSE, and on the local file system. */
export interface FloorSamples { request: number[]; syscall: number[] }

export type FuseFloor =
  | { requestUs: number; syscallUs: number; runs: number[]; calls: number }
  | { error: string };

/** `times` fuseprobe runs of `calls` getxattr(2) each, mounted in a temporary directory under `parent`. */
export async function probeFuseFloor(parent: string, calls: number, times = 3): Promise<FloorSamples | { error: string }> {
  let dir: string | undefined;
  try {
    const [probe, fsops] = [await toolBinary('fuseprobe'), await toolBinary('fsops')];
    dir = await mkdtemp(path.join(parent, 'strata-fuseprobe-'));
    const samples: FloorSamples = { request: [], syscall: [] };
    const us = async (cmd: string, args: string[]) => {
      const out = (await run(cmd, args, { timeoutMs: 150_000 })).stdout.trim();
      if (!(Number(out) > 0)) throw new Error(`${path.basename(cmd)} printed ${JSON.stringify(out)}, not a time`);
      return Number(out);
    };
    for (let i = 0; i < times; i++) {
      samples.syscall.push(await us(fsops, ['xattr', dir, String(calls)]));
      // (fuseprobe's file system has one file, f)
      samples.request.push(await us(probe, [dir, fsops, 'xattr', path.join(dir, 'f'), String(calls)]));
    }
    return samples;
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

/** The medians of every probe run (the first error, if any probing failed). */
export function fuseFloor(calls: number, ...parts: Array<FloorSamples | { error: string }>): FuseFloor {
  const failed = parts.find((p): p is { error: string } => 'error' in p);
  if (failed) return failed;
  const all = parts as FloorSamples[];
  const request = all.flatMap((p) => p.request);
  return { requestUs: summarize(request).median, syscallUs: summarize(all.flatMap((p) => p.syscall)).median, runs: request, calls };
}
