// The figures strata must reach (issue 5), measured against full-size runs
// on a 2-core, kernel 6.18, ext4 machine. Checked only on full-size runs:
// --quick sizes are too small for the figures to mean the same thing.
import type { MetricResult } from './types.ts';

export interface Target {
  metric: string;
  op: '>=' | '<=';
  value: number;
  /** The line instead of `value` when strata's server wrote through FUSE passthrough. */
  passthroughValue?: number;
  /** The target as the issue states it. */
  text: string;
}

export interface TargetCheck extends Target {
  /** strata's median, if measured. */
  strata?: number;
  /** null: not checked (strata not measured, or a --quick run). */
  met: boolean | null;
  note?: string;
}

export const TARGETS: Target[] = [
  { metric: 'seq-read-hot', op: '>=', value: 6100, text: '>= 6.1 GB/s' },
  { metric: 'rand-read-hot', op: '>=', value: 600_000, text: '>= 600k IOPS' },
  { metric: 'seq-write', op: '>=', value: 1000, passthroughValue: 3000, text: '>= 1 GB/s (>= 3 GB/s with passthrough)' },
  { metric: 'copy-up', op: '<=', value: 85, text: '<= 85 ms' },
  { metric: 'create', op: '>=', value: 6000, text: '>= 6k files/s' },
  { metric: 'stat-cold', op: '>=', value: 45_000, text: '>= 45k files/s' },
  { metric: 'find-32-cold', op: '<=', value: 150, text: '<= 150 ms, flat in the number of layers' },
  { metric: 'find-32-warm', op: '<=', value: 15, text: '<= 15 ms' },
  { metric: 'rm-rf', op: '<=', value: 500, text: '<= 500 ms' },
  { metric: 'rename', op: '<=', value: 5, text: '<= 5 ms, a real rename' },
  { metric: 'untar', op: '<=', value: 2400, text: '<= 2.4 s' },
];

/** How much slower 32 layers may be than 1 and still count as flat. */
export const FLAT_FACTOR = 1.5;

/**
 * Judges strata's medians against TARGETS. `writePassthrough`: strata's
 * server wrote the file through FUSE passthrough (its stats say so), so the
 * sequential write is held to the passthrough line.
 */
export function checkTargets(results: MetricResult[], quick: boolean, writePassthrough = false): TargetCheck[] {
  const strata = (metric: string) => results.find((r) => r.driver === 'strata' && r.metric === metric)?.median;
  return TARGETS.map((t) => {
    const v = strata(t.metric);
    if (v === undefined) return { ...t, met: null, note: 'strata not measured' };
    if (quick) return { ...t, strata: v, met: null, note: 'not checked on --quick sizes' };
    const line = writePassthrough && t.passthroughValue !== undefined ? t.passthroughValue : t.value;
    let met = t.op === '>=' ? v >= line : v <= line;
    let note = line !== t.value ? `written through passthrough: the ${line / 1000} GB/s line applies` : undefined;
    if (t.metric === 'find-32-cold') {
      const one = strata('find-1-cold');
      if (one !== undefined) {
        const flat = v <= one * FLAT_FACTOR;
        note = `32 layers / 1 layer = ${(v / one).toFixed(2)}x (flat means <= ${FLAT_FACTOR}x)`;
        met &&= flat;
      }
    }
    return { ...t, strata: v, met, note };
  });
}
