// Reading a running server's stats from a test (the server writes them on SIGUSR2).
import fs from 'node:fs';
import type { Colocation } from '@strata/native/fusell';
import { readState } from '../src/index.ts';

/** Stats of the native transport: engine ops, plus what the kernel sent (answered in C or not). */
export interface NativeStats {
  transport?: string;
  passthrough?: boolean;
  ops: Record<string, { count: number; totalUs?: number }>;
  requests: Record<string, number>;
  colocation?: Colocation;
  /** Directories the server stat'ed again through the mount after their listing (native/src/refresh.c), process-wide. */
  refreshedDirs?: number;
}

/** The stats of the server at `mnt`, fresh. */
export async function serverStats(mnt: string): Promise<NativeStats> {
  const st = readState(mnt);
  if (!st) throw new Error(`no server state for ${mnt}`);
  fs.rmSync(st.statsFile, { force: true });
  process.kill(st.pid, 'SIGUSR2');
  for (let i = 0; i < 1000 && !fs.existsSync(st.statsFile); i++) await new Promise((r) => setTimeout(r, 10));
  return JSON.parse(fs.readFileSync(st.statsFile, 'utf8')) as NativeStats;
}

/**
 * How many `op` requests the engine (JavaScript) answered. An op it never
 * answered is listed with the kernel's count and no time, so a plain count
 * would take the loop's answers for the engine's.
 */
export function engineCount(st: NativeStats, op: string): number {
  const o = st.ops[op];
  return o && o.totalUs ? o.count : 0;
}
