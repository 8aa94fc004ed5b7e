// The contracts of @strata/bench. Lifecycle of one measurement:
//   Workload.prepare(layersRoot) once  -> identical lower layer dirs for every driver
//   for each driver, for each run:
//     fresh empty upperDir/workDir -> Driver.mount() -> Workload.measure() -> unmount()
// The measured commands (fio, find, tar, mv, rm, the fsops tool) always run in
// child processes, never in the Node process that runs the benchmark; strata's
// FUSE server runs in a process of its own as well.

/** The copy-on-write drivers the benchmark knows, in the order tables list them. */
export const DRIVER_NAMES = ['strata', 'kernel', 'fuse-overlayfs', 'unionfs-fuse', 'plain'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** What one mount is made of. lowerDirs are top first, as lowerdir=A:B:C lists them. */
export interface MountSpec {
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  mountpoint: string;
  /** A directory the driver may keep state in from one run to the next (strata's directory cache); gone with the benchmark's data. */
  stateDir?: string;
}

/** A live mount of one driver. unmount() returns once it is gone from the mount table. */
export interface MountedFs {
  /** Where the merged view is: the mountpoint (or, for plain, the merged directory). */
  readonly root: string;
  unmount(): Promise<void>;
  /** Driver-internal figures for this mount so far (strata: per-FUSE-op counts and latencies), if the driver has any. */
  diagnostics?(): Promise<unknown>;
}

/** available: the driver can mount here; otherwise `reason` says why not (shown in every report). */
export type DriverProbe =
  | { available: true; version: string; options: string }
  | { available: false; reason: string };

export interface Driver {
  readonly name: DriverName;
  /** Finds the driver's program and version; never throws. */
  probe(): Promise<DriverProbe>;
  mount(spec: MountSpec): Promise<MountedFs>;
}

/** Whether a bigger number is better (throughput) or a smaller one (time). */
export type Unit = 'MB/s' | 'IOPS' | 'files/s' | 'ms' | 'µs';

export function higherIsBetter(unit: Unit): boolean {
  return unit !== 'ms' && unit !== 'µs';
}

/** One figure a workload reports, e.g. "find, 32 layers, cold". */
export interface MetricDef {
  /** Stable id used in JSON and charts, e.g. "find-32-cold". */
  id: string;
  /** Human label for tables. */
  label: string;
  unit: Unit;
  /** Chart family: one bar chart per family. */
  family: string;
  /** The workload that measures it (filled in by the runner). */
  workload?: string;
  /** Drivers this metric means nothing for, with why (plain has no copy-up). */
  notApplicable?: Partial<Record<DriverName, string>>;
}

/** The sizes workloads use; --quick scales them down. */
export interface Sizes {
  seqFileBytes: number;
  copyUpFileBytes: number;
  createFiles: number;
  statFiles: number;
  findFiles: number;
  findLayers: number[];
  rmFiles: number;
  renameFiles: number;
  untarBytes: number;
  untarEntries: number;
  /** getxattr(2) calls one xattr run times. */
  xattrCalls: number;
  /** Cap on one fio random-read run, seconds. */
  fioRuntimeSec: number;
  /** Wait before a sequential write, for the VM's balloon to be done with the memory the runner freed (seq-write.ts). */
  settleMs: number;
}

/** Everything a workload's measure() may use. */
export interface MeasureContext {
  /** Root of the merged view. */
  root: string;
  driver: DriverName;
  sizes: Sizes;
  /** The lower layers of this mount, top first (for warming the page cache of lower files directly). */
  lowerDirs: string[];
  /** Scratch directory outside the mount, emptied per run. */
  scratch: string;
  /** The directory prepare() filled (layers and any side files such as a tarball or a path list). */
  prepDir: string;
  /** Drops the page, dentry and inode caches (cold runs). */
  dropCaches(): Promise<void>;
}

/**
 * One workload: makes its lower layers once, then measures one or more
 * metrics in each fresh mount. measure() returns a value per metric id.
 */
export interface Workload {
  id: string;
  /** Workloads with the same key share one prepare() (e.g. seq and random reads of one big file). */
  layerKey?: string;
  metrics: MetricDef[];
  /** Layer dirs, top first, created under `dir` (an empty directory reserved for this workload). */
  prepare(dir: string, sizes: Sizes): Promise<string[]>;
  measure(ctx: MeasureContext): Promise<Record<string, number>>;
  /** Whether measure() needs drop_caches (cold runs); skipped with a reason when it can't. */
  needsDropCaches?: boolean;
}

/** The figures of one metric on one driver: every run, and their median/min/max. */
export interface MetricResult {
  metric: string;
  driver: DriverName;
  unit: Unit;
  runs: number[];
  median: number;
  min: number;
  max: number;
}

/** A (driver, metric) pair that produced no figure, and why. */
export interface Skip {
  driver: string;
  metric?: string;
  workload?: string;
  reason: string;
}

/** A (driver, workload) that started and failed: the error is the result. */
export interface Failure {
  driver: DriverName;
  workload: string;
  run: number;
  error: string;
}
