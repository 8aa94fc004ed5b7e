// Runs the builder section: for each fixture, run, and builder, a fresh
// storage root and a fresh copy of the context; times the cold build, the
// no-change rebuild and the rebuild after one source file changed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import { summarize } from '../stats.ts';
import { timeCommand } from '../timed.ts';
import { Progress, type Step } from '../progress.ts';
import { buildah } from './buildah.ts';
import { strataBuild } from './strata-build.ts';
import { SCENARIOS, type BuilderSection, type BuildResult, type ImageBuilder, type Scenario } from './types.ts';

const FIXTURES = fileURLToPath(new URL('../../../../fixtures/', import.meta.url));
const ROOTFS = path.join(FIXTURES, 'out', 'busybox-rootfs.tar');

/** A benchmark fixture: fixtures/bench/NAME/ with a Dockerfile and bench.json naming the file to change. */
interface Fixture { name: string; dir: string; change: string }

export function benchFixtures(): Fixture[] {
  const root = path.join(FIXTURES, 'bench');
  if (!existsSync(root)) return [];
  return readdirSync(root).sort().filter((n) => existsSync(path.join(root, n, 'Dockerfile'))).map((name) => {
    const dir = path.join(root, name);
    const meta = JSON.parse(readFileSync(path.join(dir, 'bench.json'), 'utf8')) as { change: string };
    return { name, dir, change: meta.change };
  });
}

export interface BuilderBenchOptions {
  runs: number;
  /** Only the first fixture (--quick). */
  quick: boolean;
  progress: NodeJS.WritableStream;
  tty?: boolean;
  builders?: ImageBuilder[];
}

export async function runBuilderBench(opts: BuilderBenchOptions): Promise<BuilderSection> {
  const builders = opts.builders ?? [strataBuild, buildah];
  const section: BuilderSection = { builders: [], fixtures: [], results: [], failures: [] };
  const ready: ImageBuilder[] = [];
  for (const b of builders) {
    const p = await b.probe();
    section.builders.push(p.available ? { name: b.name, available: true, version: p.version, options: b.options } : { name: b.name, available: false, reason: p.reason });
    if (p.available) ready.push(b);
  }
  let fixtures = benchFixtures();
  if (opts.quick) fixtures = fixtures.slice(0, 1);
  section.fixtures = fixtures.map((f) => f.name);
  if (!existsSync(ROOTFS)) { section.skipped = `${ROOTFS} is missing (run scripts/setup.sh)`; return section; }
  if (fixtures.length === 0) { section.skipped = `no Dockerfiles under ${path.join(FIXTURES, 'bench')}`; return section; }

  const plan: Step[] = [];
  for (const f of fixtures) for (let r = 1; r <= opts.runs; r++) for (const b of ready) plan.push({ workload: `build ${f.name}`, driver: b.name, run: r, runs: opts.runs });
  const progress = new Progress(opts.progress, plan, opts.tty);
  const times = new Map<string, number[]>();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sb-build-'));
  try {
    for (const f of fixtures) {
      for (let r = 1; r <= opts.runs; r++) {
        for (const b of ready) {
          progress.begin({ workload: `build ${f.name}`, driver: b.name, run: r, runs: opts.runs });
          const job = { storage: path.join(tmp, 'storage'), contextDir: path.join(tmp, 'ctx'), dockerfile: path.join(tmp, 'ctx', 'Dockerfile'), tag: `bench-${f.name}:latest` };
          try {
            await rm(tmp, { recursive: true, force: true });
            await mkdir(job.storage, { recursive: true });
            await run('cp', ['-a', `${f.dir}/.`, job.contextDir]);
            await run('cp', [ROOTFS, job.contextDir]);
            const got: Record<Scenario, number> = { cold: 0, 'no-change': 0, 'one-file-changed': 0 };
            got.cold = await timeCommand(b.command(job), tmp);
            got['no-change'] = await timeCommand(b.command(job), tmp);
            await appendFile(path.join(job.contextDir, f.change), `changed in run ${r}\n`);
            got['one-file-changed'] = await timeCommand(b.command(job), tmp);
            for (const s of SCENARIOS) {
              const k = `${f.name} ${b.name} ${s}`;
              times.set(k, [...(times.get(k) ?? []), got[s]]);
            }
          } catch (err) {
            const msg = err instanceof Error ? err.message : String(err);
            section.failures.push({ builder: b.name, fixture: f.name, run: r, error: msg });
            progress.note(`${b.name}: build ${f.name} run ${r} failed: ${msg}`);
          } finally {
            await b.cleanup(job);
          }
          progress.end();
        }
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  progress.finish();
  for (const f of fixtures) {
    for (const b of ready) {
      for (const s of SCENARIOS) {
        const runs = times.get(`${f.name} ${b.name} ${s}`);
        if (runs?.length) section.results.push({ builder: b.name, fixture: f.name, scenario: s, unit: 'ms', runs, ...summarize(runs) } satisfies BuildResult);
      }
    }
  }
  return section;
}
