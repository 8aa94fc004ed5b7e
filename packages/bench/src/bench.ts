// `strata bench` as a library call: runs the chosen workloads on the chosen
// drivers (and the builder section), then writes bench.json, bench.md and the
// SVG charts into outDir.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '@strata/common';
import { DRIVER_NAMES, type DriverName } from './types.ts';
import { drivers as allDrivers, isDriverName } from './drivers/index.ts';
import { strataDriver } from './drivers/strata.ts';
import { selectWorkloads } from './workloads/index.ts';
import { FULL_SIZES, QUICK_SIZES } from './sizes.ts';
import { runWorkloads } from './runner.ts';
import { machineInfo } from './machine.ts';
import { fuseFloor, probeFuseFloor } from './fuse-floor.ts';
import { checkTargets } from './targets.ts';
import { runBuilderBench } from './builder/run-builds.ts';
import { writeJsonReport } from './report/json.ts';
import { renderMarkdown } from './report/markdown.ts';
import { renderCharts } from './report/charts.ts';
import type { BenchReport } from './report/types.ts';

export interface BenchOptions {
  /** Driver names; all five when empty. */
  drivers?: string[];
  /** Workload ids ("find" = every depth, "builder" = the builder section); all when empty. */
  workloads?: string[];
  quick?: boolean;
  /** Runs per figure; default 5, or 1 with quick. */
  runs?: number;
  outDir: string;
  /** Where the layer data goes (default: the OS temp dir). */
  dataParent?: string;
  /** strata's FUSE transport; absent: strata's own default, as `strata mount` uses. */
  strataTransport?: string;
  /** Mount strata with -o lower_passthrough=on|off; absent: strata's default (on). */
  strataLowerPassthrough?: boolean;
  /** The command line to record in the report. */
  command?: string;
  progress?: NodeJS.WritableStream;
  tty?: boolean;
}

export interface BenchOutput {
  report: BenchReport;
  jsonFile: string;
  markdownFile: string;
  chartFiles: string[];
}

export const BUILDER_WORKLOAD = 'builder';

/** Runs the benchmark; throws UsageError for unknown drivers or workloads before doing anything. */
export async function runBench(opts: BenchOptions): Promise<BenchOutput> {
  const quick = opts.quick ?? false;
  const sizes = quick ? QUICK_SIZES : FULL_SIZES;
  const runs = opts.runs ?? (quick ? 1 : 5);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`strata bench: --runs must be a positive integer, got ${opts.runs}`);
  const names = opts.drivers?.length ? opts.drivers : [...DRIVER_NAMES];
  const badDriver = names.filter((n) => !isDriverName(n));
  if (badDriver.length) throw new UsageError(`strata bench: unknown driver ${badDriver.join(', ')} (known: ${DRIVER_NAMES.join(', ')})`);
  const wanted = opts.workloads ?? [];
  const withBuilder = wanted.length === 0 || wanted.includes(BUILDER_WORKLOAD);
  const fsNames = wanted.filter((w) => w !== BUILDER_WORKLOAD);
  const { selected, unknown } = fsNames.length || wanted.length === 0 ? selectWorkloads(sizes, fsNames) : { selected: [], unknown: [] };
  if (unknown.length) {
    const known = selectWorkloads(sizes, []).selected.map((w) => w.id);
    throw new UsageError(`strata bench: unknown workload ${unknown.join(', ')} (known: ${[...known, 'find', BUILDER_WORKLOAD].join(', ')})`);
  }
  if (opts.dataParent !== undefined) {
    // Made when missing, as --out is; a path that cannot be a directory is a usage error, before anything runs.
    const dir = opts.dataParent;
    await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`strata bench: --data-dir ${dir}: ${err.code === 'EEXIST' || err.code === 'ENOTDIR' ? 'not a directory' : err.message}`);
    });
  }
  const progress = opts.progress ?? process.stderr;
  const startedAt = new Date().toISOString();
  const dataRoot = opts.dataParent ?? os.tmpdir();
  const machine = await machineInfo(dataRoot);
  // (the machine's FUSE round trip: three probes now, three after the workloads)
  const floorBefore = selected.length ? await probeFuseFloor(dataRoot, sizes.xattrCalls) : undefined;

  const t = opts.strataTransport;
  if (t !== undefined && t !== 'native' && t !== 'fuse-native') throw new UsageError(`strata bench: --strata-transport must be native or fuse-native, not ${JSON.stringify(t)}`);
  const lp = opts.strataLowerPassthrough;
  const driverList = (names as DriverName[]).map((n) => (n === 'strata' && (t || lp !== undefined) ? strataDriver(t, lp) : allDrivers[n]));
  const res = await runWorkloads({ drivers: driverList, workloads: selected, sizes, runs, dataParent: opts.dataParent, progress, tty: opts.tty });
  if (floorBefore) machine.fuseFloor = fuseFloor(sizes.xattrCalls, floorBefore, await probeFuseFloor(dataRoot, sizes.xattrCalls));
  const builder = withBuilder ? await runBuilderBench({ runs, quick, progress, tty: opts.tty }) : undefined;

  machine.loadAverageEnd = os.loadavg();
  const report: BenchReport = {
    schema: 'strata-bench/1',
    command: opts.command ?? `strata bench ${quick ? '--quick ' : ''}--runs ${runs}`,
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    runs,
    sizes,
    machine,
    drivers: driverList.map((d) => {
      const p = res.probes[d.name]!;
      return p.available ? { name: d.name, available: true, version: p.version, options: p.options } : { name: d.name, available: false, reason: p.reason };
    }),
    metrics: res.metrics,
    results: res.results,
    skips: res.skips,
    failures: res.failures,
    targets: checkTargets(res.results, quick, wrotePassthrough(res.diagnostics)),
    diagnostics: res.diagnostics,
    builder,
  };

  await mkdir(opts.outDir, { recursive: true });
  const jsonFile = path.join(opts.outDir, 'bench.json');
  const markdownFile = path.join(opts.outDir, 'bench.md');
  await writeJsonReport(jsonFile, report);
  await writeFile(markdownFile, renderMarkdown(report) + '\n');
  const chartFiles: string[] = [];
  for (const c of await renderCharts(report)) {
    const f = path.join(opts.outDir, c.file);
    await writeFile(f, c.svg);
    chartFiles.push(f);
  }
  return { report, jsonFile, markdownFile, chartFiles };
}

/** Whether strata's server wrote the sequential-write file through FUSE passthrough (its stats of that workload say). */
function wrotePassthrough(diagnostics: Record<string, Record<string, unknown>>): boolean {
  const stats = diagnostics['seq-write']?.strata as { passthrough?: unknown } | undefined;
  return stats?.passthrough === true;
}
