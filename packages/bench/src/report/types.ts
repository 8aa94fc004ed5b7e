// The shape of one benchmark report: what `strata bench` writes as
// bench.json and what the Markdown and chart reporters read.
import type { DriverName, Failure, MetricDef, MetricResult, Sizes, Skip } from '../types.ts';
import type { MachineInfo } from '../machine.ts';
import type { TargetCheck } from '../targets.ts';
import type { BuilderSection } from '../builder/types.ts';

export interface DriverInfo {
  name: DriverName;
  available: boolean;
  version?: string;
  options?: string;
  /** Why the driver was skipped (only when !available). */
  reason?: string;
}

export interface BenchReport {
  schema: 'strata-bench/1';
  /** The command line that produced the report. */
  command: string;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  runs: number;
  sizes: Sizes;
  machine: MachineInfo;
  drivers: DriverInfo[];
  metrics: MetricDef[];
  /** Every run of every (metric, driver) measured, with median/min/max. */
  results: MetricResult[];
  skips: Skip[];
  failures: Failure[];
  targets: TargetCheck[];
  /** Driver-internal figures of each workload's last run, by workload then driver (strata: per-FUSE-op stats). */
  diagnostics: Record<string, Record<string, unknown>>;
  builder?: BuilderSection;
}
