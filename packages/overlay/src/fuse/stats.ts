// Per-operation counts and latencies of a running server (`strata mount
// --stats`): cheap enough to keep always on; written out on request.

export interface OpStat {
  count: number;
  errors: number;
  totalUs: number;
  maxUs: number;
}

export class OpStats {
  readonly ops = new Map<string, OpStat>();
  readonly since = Date.now();

  record(op: string, startNs: bigint, failed: boolean): void {
    const us = Number(process.hrtime.bigint() - startNs) / 1000;
    let s = this.ops.get(op);
    if (!s) this.ops.set(op, (s = { count: 0, errors: 0, totalUs: 0, maxUs: 0 }));
    s.count++;
    if (failed) s.errors++;
    s.totalUs += us;
    if (us > s.maxUs) s.maxUs = us;
  }

  toJSON(): { since: string; ops: Record<string, OpStat & { avgUs: number }> } {
    const ops: Record<string, OpStat & { avgUs: number }> = {};
    for (const [k, v] of [...this.ops].sort()) ops[k] = { ...v, avgUs: v.count ? v.totalUs / v.count : 0 };
    return { since: new Date(this.since).toISOString(), ops };
  }
}
