// The benchmark's small parts on their own: statistics, the timer, workload
// selection, target checks and the relative-speed rule of the table.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessFailed } from '@strata/common';
import { Graveyard } from '../src/graveyard.ts';
import { summarize } from '../src/stats.ts';
import { timeCommand } from '../src/timed.ts';
import { selectWorkloads } from '../src/workloads/index.ts';
import { QUICK_SIZES } from '../src/sizes.ts';
import { checkTargets } from '../src/targets.ts';
import { relativeSpeed } from '../src/report/markdown.ts';
import type { MetricResult } from '../src/types.ts';

test('summarize gives median, min and max', (t) => {
  t.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5 });
  t.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  t.throws(() => summarize([]), { instanceOf: RangeError });
});

test('timeCommand times the command, not bash start-up, and refuses a failure', async (t) => {
  const ms = await timeCommand('sleep 0.2', '/');
  t.true(ms >= 195 && ms < 2000, `${ms} ms`);
  const tiny = await timeCommand(':', '/');
  t.true(tiny < 20, `a builtin no-op took ${tiny} ms`);
  await t.throwsAsync(timeCommand('ls /nonexistent-strata-bench', '/'), { instanceOf: ProcessFailed, message: /nonexistent-strata-bench/ });
});

test('workload selection: ids, "find" for every depth, unknown names reported', (t) => {
  const ids = (names: string[]) => selectWorkloads(QUICK_SIZES, names).selected.map((w) => w.id);
  t.deepEqual(ids(['find']), ['find-1', 'find-8', 'find-32']);
  t.deepEqual(ids(['find-8', 'rename']), ['find-8', 'rename']);
  t.deepEqual(selectWorkloads(QUICK_SIZES, ['seq', 'copy-up']).unknown, ['seq']);
  t.is(ids([]).length, 13);
});

function result(metric: string, driver: MetricResult['driver'], median: number, unit: MetricResult['unit'] = 'ms'): MetricResult {
  return { metric, driver, unit, runs: [median], median, min: median, max: median };
}

test('targets: judged on full runs only, find-32 must also be flat', (t) => {
  const rs = [result('find-32-cold', 'strata', 120), result('find-1-cold', 'strata', 40), result('rename', 'strata', 3), result('create', 'strata', 5000, 'files/s')];
  const full = checkTargets(rs, false);
  const by = (id: string) => full.find((c) => c.metric === id)!;
  t.false(by('find-32-cold').met, '120 ms is under 150 but 3x the 1-layer time: not flat');
  t.true(by('rename').met);
  t.false(by('create').met);
  t.is(by('untar').met, null);
  t.true(checkTargets(rs, true).every((c) => c.met === null));
});

test('targets: a sequential write through passthrough is held to the 3 GB/s line', (t) => {
  const rs = [result('seq-write', 'strata', 1800, 'MB/s')];
  const write = (passthrough: boolean) => checkTargets(rs, false, passthrough).find((c) => c.metric === 'seq-write')!;
  t.true(write(false).met);
  t.false(write(true).met);
  t.regex(write(true).note ?? '', /3 GB\/s line/);
});

test('relative speed reads the same way for rates and times', (t) => {
  t.is(relativeSpeed(result('x', 'kernel', 50, 'MB/s'), result('x', 'plain', 100, 'MB/s')), 0.5);
  t.is(relativeSpeed(result('x', 'kernel', 200), result('x', 'plain', 100)), 0.5);
  t.is(relativeSpeed(result('x', 'kernel', 200), undefined), undefined);
});

test('graveyard: the tree of a run is moved aside whole, its big files freed at once', async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'strata-graveyard-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const run = path.join(tmp, 'u');
  mkdirSync(path.join(run, 'a', 'b'), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(path.join(run, 'a', 'b', `f${i}`), 'x');
  writeFileSync(path.join(run, 'a', 'big'), '');
  truncateSync(path.join(run, 'a', 'big'), 2 << 20);
  writeFileSync(path.join(run, 'small'), Buffer.alloc(1000));
  const g = new Graveyard(path.join(tmp, 'g'));
  await g.park(run);
  await g.park(path.join(tmp, 'absent')); // nothing there: nothing to do
  t.false(existsSync(run));
  const [parked, ...more] = readdirSync(path.join(tmp, 'g'));
  t.deepEqual(more, []);
  const kept = path.join(tmp, 'g', parked!);
  t.is(readdirSync(path.join(kept, 'a', 'b')).length, 50, 'small files stay (deleting them slows later creates)');
  t.false(existsSync(path.join(kept, 'a', 'big')), 'the big file is gone');
  t.is(statSync(path.join(kept, 'small')).size, 1000);
  mkdirSync(run);
  await g.park(run);
  t.is(readdirSync(path.join(tmp, 'g')).length, 2, 'each park has its own place');
});
