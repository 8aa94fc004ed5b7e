// The runner: prepares each workload's layers once, then for each run and
// each driver mounts a fresh union (empty upper and work dirs) over the same
// layers, measures, and unmounts. Runs are interleaved across drivers (run 1
// of every driver, then run 2, ...) so that noise from other work on a shared
// machine falls on all drivers alike rather than on whichever ran last.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import type { Driver, DriverName, DriverProbe, Failure, MetricDef, MetricResult, Sizes, Skip, Workload } from './types.ts';
import { dropCaches, dropCachesUnavailable } from './drop-caches.ts';
import { summarize } from './stats.ts';
import { Progress, type Step } from './progress.ts';
import { isMounted } from './drivers/mounts.ts';
import { Graveyard } from './graveyard.ts';

export interface RunnerOptions {
  drivers: Driver[];
  workloads: Workload[];
  sizes: Sizes;
  runs: number;
  /** Parent of the temporary data directory (default: the OS temp dir). */
  dataParent?: string;
  progress: NodeJS.WritableStream;
  /** Force plain-line progress (tests); default: redraw when `progress` is a TTY. */
  tty?: boolean;
}

export interface RunnerResult {
  probes: Record<string, DriverProbe>;
  metrics: MetricDef[];
  results: MetricResult[];
  skips: Skip[];
  failures: Failure[];
  /** Driver-internal figures of the last run, by workload then driver (strata's per-op FUSE stats). */
  diagnostics: Record<string, Record<string, unknown>>;
  dataDir: string;
}

export async function runWorkloads(opts: RunnerOptions): Promise<RunnerResult> {
  const probes: Record<string, DriverProbe> = {};
  const skips: Skip[] = [];
  const failures: Failure[] = [];
  for (const d of opts.drivers) {
    probes[d.name] = await d.probe();
    const p = probes[d.name]!;
    if (!p.available) skips.push({ driver: d.name, reason: p.reason });
  }
  const ready = opts.drivers.filter((d) => probes[d.name]!.available);
  const noDrop = await dropCachesUnavailable();
  const workloads = opts.workloads.filter((w) => {
    if (w.needsDropCaches && noDrop) {
      for (const d of opts.drivers) skips.push({ driver: d.name, workload: w.id, reason: noDrop });
      return false;
    }
    return true;
  });

  // Short paths: 32 lowerdirs must fit in one page of mount options.
  const dataDir = await mkdtemp(path.join(opts.dataParent ?? os.tmpdir(), 'sb-'));
  const plan: Step[] = [];
  for (const w of workloads) for (let r = 1; r <= opts.runs; r++) for (const d of ready.filter((x) => applies(w, x.name))) plan.push({ workload: w.id, driver: d.name, run: r, runs: opts.runs });
  const progress = new Progress(opts.progress, plan, opts.tty);

  const values = new Map<string, number[]>(); // "metric driver" -> runs
  const diagnostics: Record<string, Record<string, unknown>> = {};
  const prepared = new Map<string, string[]>(); // layerKey -> lowerDirs
  const runDir = path.join(dataDir, 'r');
  const dirs = { upper: path.join(runDir, 'u'), work: path.join(runDir, 'w'), mnt: path.join(runDir, 'm'), scratch: path.join(runDir, 's'), state: path.join(dataDir, 'state') };
  const graveyard = new Graveyard(path.join(dataDir, 'g'));

  // Ctrl-C must not leave a mount or gigabytes of layers behind.
  const onSignal = (sig: NodeJS.Signals) => {
    spawnSync('umount', ['-l', dirs.mnt]);
    rmSync(dataDir, { recursive: true, force: true });
    process.stderr.write(`\nstrata bench: interrupted (${sig}); unmounted and cleaned up\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const [wi, w] of workloads.entries()) {
      const key = w.layerKey ?? w.id;
      const prepDir = path.join(dataDir, 'p', key);
      if (!prepared.has(key)) {
        progress.note(`preparing layers for ${w.id}...`);
        await mkdir(prepDir, { recursive: true });
        prepared.set(key, await w.prepare(prepDir, opts.sizes));
        await run('sync', []);
      }
      const lowerDirs = prepared.get(key)!;
      const failed = new Set<DriverName>();
      for (let r = 1; r <= opts.runs; r++) {
        // A driver none of whose metrics apply never mounts (plain would append to a layer's own file).
        for (const d of ready.filter((x) => applies(w, x.name))) {
          progress.begin({ workload: w.id, driver: d.name, run: r, runs: opts.runs });
          if (failed.has(d.name)) { progress.end(); continue; }
          try {
            const got = await measureOnce(d, w, lowerDirs, prepDir, dirs, graveyard, opts.sizes, noDrop, (diag) => {
              (diagnostics[w.id] ??= {})[d.name] = diag;
            });
            for (const [metric, v] of Object.entries(got)) {
              const k = `${metric} ${d.name}`;
              values.set(k, [...(values.get(k) ?? []), v]);
            }
          } catch (err) {
            failed.add(d.name);
            const msg = err instanceof Error ? err.message : String(err);
            failures.push({ driver: d.name, workload: w.id, run: r, error: msg });
            progress.note(`${d.name}: ${w.id} run ${r} failed: ${msg}`);
          }
          progress.end();
        }
      }
      // Free the disk as soon as no later workload shares these layers.
      if (!workloads.slice(wi + 1).some((x) => (x.layerKey ?? x.id) === key)) await graveyard.park(prepDir);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
  }
  progress.finish();

  const metrics: MetricDef[] = workloads.flatMap((w) => w.metrics.map((m) => ({ ...m, workload: w.id })));
  const results: MetricResult[] = [];
  for (const m of metrics) {
    for (const d of opts.drivers) {
      const why = m.notApplicable?.[d.name];
      if (why) { skips.push({ driver: d.name, metric: m.id, reason: why }); continue; }
      const runs = values.get(`${m.id} ${d.name}`);
      if (!runs?.length) continue;
      results.push({ metric: m.id, driver: d.name, unit: m.unit, runs, ...summarize(runs) });
    }
  }
  return { probes, metrics, results, skips, failures, diagnostics, dataDir };
}

function applies(w: Workload, d: DriverName): boolean {
  return w.metrics.some((m) => !m.notApplicable?.[d]);
}

async function measureOnce(
  d: Driver, w: Workload, lowerDirs: string[], prepDir: string,
  dirs: { upper: string; work: string; mnt: string; scratch: string; state: string }, graveyard: Graveyard, sizes: Sizes, noDropCaches: string | null,
  onDiagnostics: (d: unknown) => void,
): Promise<Record<string, number>> {
  for (const p of [dirs.upper, dirs.work, dirs.mnt, dirs.scratch]) {
    if (p === dirs.mnt && (await isMounted(p))) throw new Error(`${p} is still mounted from an earlier run`);
    await graveyard.park(p); // not deleted: see graveyard.ts
    await mkdir(p, { recursive: true });
  }
  // Earlier runs' dirty data must not be written back during this one, and
  // every run starts from cold caches: what one driver read must not speed
  // up the next. Workloads that want their lower data warm read it
  // themselves, straight from the layer.
  if (noDropCaches === null) await dropCaches();
  else await run('sync', []);
  const mounted = await d.mount({ lowerDirs, upperDir: dirs.upper, workDir: dirs.work, mountpoint: dirs.mnt, stateDir: dirs.state });
  try {
    const got = await w.measure({ root: mounted.root, driver: d.name, sizes, lowerDirs, scratch: dirs.scratch, prepDir, dropCaches });
    for (const m of w.metrics) {
      if (m.notApplicable?.[d.name]) { delete got[m.id]; continue; }
      const v = got[m.id];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${w.id}: no valid figure for ${m.id} (${v})`);
    }
    const diag = await mounted.diagnostics?.();
    if (diag !== undefined) onDiagnostics(diag);
    return got;
  } finally {
    await mounted.unmount();
    // The workload's writes (up to a whole big file) leave with the run.
    await graveyard.park(dirs.upper);
  }
}
