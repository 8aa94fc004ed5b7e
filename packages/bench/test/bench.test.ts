// `strata bench --quick` end to end, through the library: every driver and
// workload really runs (real mounts, real fio), and the outputs have the
// promised structure. Nothing here asserts a speed.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { run, UsageError } from '@strata/common';
import { DRIVER_NAMES, drivers, runBench, type BenchOutput } from '../src/index.ts';
import { mountpoints, unmount } from '../src/drivers/mounts.ts';

let tmp: string;
let out: BenchOutput;
let progressText = '';

const PREFIX = 'strata-bench-test-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A run of this test that was SIGKILLed (a CI timeout) never reached its
 * after.always hook; its mounts would stay forever. Each run records its pid,
 * and the next one unmounts and removes what a dead run left behind.
 */
async function reapDeadRuns(): Promise<void> {
  for (const name of await readdir(os.tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    const pid = Number(await readFile(path.join(dir, 'owner.pid'), 'utf8').catch(() => ''));
    if (!pid || alive(pid)) continue;
    for (const m of await mountpoints()) if (m.startsWith(dir + '/')) await unmount(m).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

test.before(async () => {
  await reapDeadRuns();
  tmp = await mkdtemp(path.join(os.tmpdir(), PREFIX));
  await writeFile(path.join(tmp, 'owner.pid'), String(process.pid));
  const progress = new PassThrough();
  progress.on('data', (b: Buffer) => { progressText += b.toString(); });
  out = await runBench({ quick: true, outDir: path.join(tmp, 'out'), dataParent: tmp, progress, tty: false });
});

test.after.always(async () => {
  // Whatever happened, nothing the benchmark mounted may stay mounted.
  for (const m of await mountpoints()) if (tmp && m.startsWith(tmp)) await unmount(m);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the JSON report has machine, driver versions and every run', async (t) => {
  const json = JSON.parse(await readFile(out.jsonFile, 'utf8'));
  t.is(json.schema, 'strata-bench/1');
  t.true(json.quick);
  t.is(json.runs, 1);
  for (const k of ['cpuModel', 'cpus', 'memoryBytes', 'kernel', 'filesystem', 'fio']) t.truthy(json.machine[k], `machine.${k}`);
  t.deepEqual(json.drivers.map((d: { name: string }) => d.name), [...DRIVER_NAMES]);
  for (const d of json.drivers) {
    if (d.available) t.true(typeof d.version === 'string' && d.version.length > 0, `${d.name} has a version`);
    else t.true(typeof d.reason === 'string' && d.reason.length > 0, `${d.name} is skipped with a reason`);
  }
  // Every workload's metrics are listed, find at every depth.
  const ids = json.metrics.map((m: { id: string }) => m.id);
  for (const id of ['seq-read-cold', 'seq-read-hot', 'rand-read-hot', 'seq-write', 'copy-up', 'create', 'stat-cold', 'stat-warm',
    'find-1-cold', 'find-8-warm', 'find-32-cold', 'rm-rf', 'rename', 'rename-mv', 'untar', 'xattr']) t.true(ids.includes(id), id);
  t.deepEqual(json.failures, [], 'no driver failed a workload');
  t.true(json.results.length > 0);
  for (const r of json.results) {
    t.is(r.runs.length, 1);
    t.true(r.min <= r.median && r.median <= r.max && r.min > 0, `${r.driver} ${r.metric}`);
  }
  // Every available driver measured every metric that applies to it.
  for (const d of json.drivers.filter((x: { available: boolean }) => x.available)) {
    for (const m of json.metrics) {
      if (m.notApplicable?.[d.name]) continue;
      t.truthy(json.results.find((r: { driver: string; metric: string }) => r.driver === d.name && r.metric === m.id), `${d.name} ${m.id}`);
    }
  }
  t.is(typeof json.diagnostics, 'object');
  if (json.drivers.find((d: { name: string }) => d.name === 'strata').available) {
    // strata's server reports per-operation stats for every workload it ran.
    // (reads themselves are passed through to the layer file: only the open is the server's)
    t.truthy(json.diagnostics['seq-read']?.strata?.ops?.open, 'strata open stats for seq-read');
  }
  t.is(json.targets.length, 11);
  for (const c of json.targets) t.is(c.met, null, 'targets are not judged on quick sizes');
  t.truthy(json.builder);
  t.deepEqual(json.builder.builders.map((b: { name: string }) => b.name), ['strata', 'buildah']);
  for (const b of json.builder.builders) if (!b.available) t.truthy(b.reason);
});

test('the machine line gives the FUSE round trip of a server that does nothing', async (t) => {
  const f = out.report.machine.fuseFloor;
  if (!f || 'error' in f) return t.fail(`fuseprobe: ${f ? f.error : 'not run'}`);
  t.is(f.runs.length, 6, 'three runs before the workloads, three after');
  // A round trip through /dev/fuse and back cannot be cheaper than the syscall that starts it.
  t.true(f.requestUs > f.syscallUs && f.syscallUs > 0, `${f.requestUs} µs through FUSE, ${f.syscallUs} µs locally`);
  t.regex(await readFile(out.markdownFile, 'utf8'), /One FUSE request answered at once by a server that does nothing .* takes [\d.,]+ µs here/);
  // The probe's mount is gone, and so is its directory.
  t.false((await mountpoints()).some((m) => m.includes('strata-fuseprobe-')));
  t.deepEqual((await readdir(tmp)).filter((n) => n.startsWith('strata-fuseprobe-')), []);
});

test('the Markdown table has a column per driver and ratios to plain', async (t) => {
  const md = await readFile(out.markdownFile, 'utf8');
  t.regex(md, new RegExp(`\\| workload \\| ${DRIVER_NAMES.join(' \\| ')} \\|`));
  t.regex(md, /\| seq read, hot \(MB\/s\) \|/);
  t.regex(md, /\(1\.00x\)/, 'plain is 1.00x of itself');
  t.regex(md, /### strata against its targets/);
  for (const d of out.report.drivers) if (!d.available) t.true(md.includes(`**${d.name}**: skipped: ${d.reason}`));
});

test('the SVG charts are written and parse as SVG', async (t) => {
  const files = (await readdir(path.dirname(out.jsonFile))).filter((f) => f.endsWith('.svg')).sort();
  for (const f of ['layer-depth.svg', 'sequential-i-o.svg', 'random-read.svg', 'metadata.svg', 'find.svg', 'tree-operations.svg', 'copy-up.svg']) {
    t.true(files.includes(f), f);
  }
  const parser = new XMLParser({ ignoreAttributes: false });
  for (const f of files) {
    const text = await readFile(path.join(path.dirname(out.jsonFile), f), 'utf8');
    t.is(XMLValidator.validate(text), true, `${f} is well-formed XML`);
    const doc = parser.parse(text);
    t.truthy(doc.svg, `${f} has an <svg> root`);
    t.true(Number(doc.svg['@_width']) > 0);
  }
});

test('the progress display names driver, workload and time left', (t) => {
  t.regex(progressText, /\[1\/\d+\] \S+: seq-read \(run 1\/1\)/);
  t.regex(progressText, /about \S+ left/);
});

test.serial('a driver whose program is missing is skipped with the reason', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const p = await drivers['fuse-overlayfs'].probe();
    t.false(p.available);
    if (!p.available) t.regex(p.reason, /fuse-overlayfs is not installed/);
    const u = await drivers['unionfs-fuse'].probe();
    t.false(u.available);
  } finally {
    process.env.PATH = saved;
  }
});

test('unknown drivers and workloads are usage errors', async (t) => {
  await t.throwsAsync(runBench({ drivers: ['zfs'], outDir: tmp }), { instanceOf: UsageError, message: /unknown driver zfs/ });
  await t.throwsAsync(runBench({ workloads: ['nope'], outDir: tmp }), { instanceOf: UsageError, message: /unknown workload nope/ });
});

test('a --data-dir that is a file is a usage error naming it; a missing one is made', async (t) => {
  const file = path.join(tmp, 'data-file');
  await writeFile(file, 'x');
  await t.throwsAsync(runBench({ dataParent: file, workloads: ['rename'], drivers: ['plain'], quick: true, outDir: path.join(tmp, 'o1') }), {
    instanceOf: UsageError,
    message: new RegExp(`--data-dir ${file}: not a directory`),
  });
  const missing = path.join(tmp, 'no', 'such', 'dir');
  const res = await runBench({ dataParent: missing, workloads: ['rename'], drivers: ['plain'], quick: true, outDir: path.join(tmp, 'o2'), progress: new PassThrough() });
  t.true(res.report.results.some((r) => r.driver === 'plain' && r.metric.startsWith('rename')));
});

test.serial('the strata CLI (its esbuild bundle) benchmarks strata itself, not a skip', async (t) => {
  // The bundled CLI once left @strata/overlay to Node, which cannot load .ts
  // sources, and reported the strata driver as skipped.
  const out = path.join(tmp, 'cli-out');
  const cli = path.resolve(import.meta.dirname, '../../cli/bin/strata.js');
  await run(process.execPath, [cli, 'bench', '--quick', '--drivers', 'strata', '--workloads', 'stat', '--out', out, '--data-dir', tmp]);
  const json = JSON.parse(await readFile(path.join(out, 'bench.json'), 'utf8'));
  const strata = json.drivers.find((d: { name: string }) => d.name === 'strata');
  t.true(strata.available, strata.reason);
  t.true(json.results.some((r: { driver: string; metric: string }) => r.driver === 'strata' && r.metric === 'stat-cold'));
});
