// The Markdown report: one table of medians with each driver's speed
// relative to the plain directory, one of min–max spreads, the targets, the
// builder section, and every skip and failure with its reason.
import { DRIVER_NAMES, higherIsBetter, type DriverName, type MetricResult } from '../types.ts';
import { SCENARIOS } from '../builder/types.ts';
import { fmtNumber } from './format.ts';
import type { BenchReport } from './types.ts';
import type { MachineInfo } from '../machine.ts';

function table(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Speed relative to plain: >1 faster, <1 slower, whatever the unit. */
export function relativeSpeed(r: MetricResult, plain: MetricResult | undefined): number | undefined {
  if (!plain) return undefined;
  return higherIsBetter(r.unit) ? r.median / plain.median : plain.median / r.median;
}

interface OpStat { count: number; totalUs: number; avgUs: number }

function strataProfile(report: BenchReport): string[][] {
  const rows: string[][] = [];
  for (const [workload, byDriver] of Object.entries(report.diagnostics ?? {})) {
    const ops = (byDriver.strata as { ops?: Record<string, OpStat> } | undefined)?.ops;
    if (!ops) continue;
    const top = Object.entries(ops).sort((a, b) => b[1].totalUs - a[1].totalUs).slice(0, 4);
    rows.push([workload, top.map(([op, v]) => `${op}: ${v.count} × ${fmtNumber(v.avgUs)} µs (${fmtNumber(v.totalUs / 1000)} ms)`).join('; ')]);
  }
  return rows;
}

/** The machine's FUSE round trip, the floor under every request a FUSE driver serves. */
function fuseFloorLine(f: MachineInfo['fuseFloor']): string {
  if (!f) return '';
  if ('error' in f) return ` FUSE round trip not measured: ${f.error}.`;
  const lo = Math.min(...f.runs), hi = Math.max(...f.runs);
  return ` One FUSE request answered at once by a server that does nothing (fuseprobe, getxattr(2); median of ${f.runs.length} runs, ` +
    `half before the workloads and half after, ${fmtNumber(lo)}–${fmtNumber(hi)} µs) ` +
    `takes ${fmtNumber(f.requestUs)} µs here, the same syscall on the local file system ${fmtNumber(f.syscallUs)} µs.`;
}

export function renderMarkdown(report: BenchReport): string {
  const order = DRIVER_NAMES.filter((d) => report.drivers.some((x) => x.name === d));
  const info = (d: DriverName) => report.drivers.find((x) => x.name === d)!;
  const out: string[] = [];
  const m = report.machine;

  out.push(`Command: \`${report.command}\``);
  out.push('');
  out.push(`Machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB RAM, ${m.kernel}, ${m.os}; layers on ${m.filesystem}. ` +
    `Node ${m.node}, ${m.fio}, strata ${m.strataCommit}. ${report.runs} run${report.runs > 1 ? 's' : ''} per figure${report.quick ? ', --quick sizes' : ''}; ` +
    `started ${report.startedAt}, finished ${report.finishedAt}. ` +
    `Load average (1/5/15 min) at the start ${m.loadAverage.map((x) => x.toFixed(1)).join('/')}` +
    (m.loadAverageEnd ? `, at the end ${m.loadAverageEnd.map((x) => x.toFixed(1)).join('/')}` : '') + ' (other work shares the machine).' +
    fuseFloorLine(m.fuseFloor));
  out.push('');
  out.push('Drivers:');
  out.push('');
  for (const d of order) {
    const i = info(d);
    out.push(i.available ? `- **${d}**: ${i.version} (${i.options})` : `- **${d}**: skipped: ${i.reason}`);
  }
  out.push('');
  if (report.metrics.length) renderFilesystem(report, order, out);
  renderRest(report, out);
  return out.join('\n');
}

function renderFilesystem(report: BenchReport, order: DriverName[], out: string[]): void {
  const info = (d: DriverName) => report.drivers.find((x) => x.name === d)!;
  const find = (metric: string, d: string) => report.results.find((r) => r.metric === metric && r.driver === d);
  const failed = (workload: string | undefined, d: string) => report.failures.find((f) => f.driver === d && f.workload === workload);
  out.push('### Medians (speed relative to the plain directory)');
  out.push('');
  out.push('Each cell is the median, then in parentheses how fast that is relative to the plain directory ' +
    '(1.00x = as fast as plain, 0.50x = half as fast; for times that is plain\'s time / the driver\'s time).');
  out.push('');
  const rows: string[][] = [];
  const spread: string[][] = [];
  for (const metric of report.metrics) {
    const plain = find(metric.id, 'plain');
    const row = [`${metric.label} (${metric.unit})`];
    const srow = [`${metric.label} (${metric.unit})`];
    for (const d of order) {
      const r = find(metric.id, d);
      if (r) {
        const rel = relativeSpeed(r, plain);
        row.push(`${fmtNumber(r.median)}${rel === undefined ? '' : ` (${rel.toFixed(2)}x)`}`);
        srow.push(`${fmtNumber(r.min)} – ${fmtNumber(r.max)}`);
      } else {
        const cell = !info(d).available ? 'skipped' : metric.notApplicable?.[d] ? '–' : failed(metric.workload, d) ? 'failed' : 'skipped';
        row.push(cell);
        srow.push(cell);
      }
    }
    rows.push(row);
    spread.push(srow);
  }
  out.push(table(['workload', ...order], rows));
  out.push('');
  out.push('### Spread (min – max of the runs)');
  out.push('');
  out.push(table(['workload', ...order], spread));
  out.push('');

  out.push('### strata against its targets');
  out.push('');
  out.push(table(['workload', 'target', 'strata', 'met'], report.targets.map((t) => {
    const label = report.metrics.find((x) => x.id === t.metric)?.label ?? t.metric;
    const met = t.met === null ? (t.note ?? 'not checked') : `${t.met ? 'yes' : 'NO'}${t.note ? ` (${t.note})` : ''}`;
    return [label, t.text, t.strata === undefined ? '–' : fmtNumber(t.strata), met];
  })));
  out.push('');
}

function renderRest(report: BenchReport, out: string[]): void {
  const profile = strataProfile(report);
  if (profile.length) {
    out.push('### strata: where its FUSE server spends the time (last run of each workload)');
    out.push('');
    out.push('The top operations by total server-side time: count × mean latency (total). Time in the kernel and in FUSE queues is not included.');
    out.push('');
    out.push(table(['workload', 'top operations'], profile));
    out.push('');
  }

  const b = report.builder;
  if (b) {
    out.push('### Builder: strata vs buildah, ms');
    out.push('');
    for (const x of b.builders) out.push(x.available ? `- **${x.name}**: ${x.version} (${x.options})` : `- **${x.name}**: skipped: ${x.reason}`);
    out.push('');
    if (b.skipped) {
      out.push(`Builder section skipped: ${b.skipped}`);
    } else {
      const brow: string[][] = [];
      for (const f of b.fixtures) {
        for (const s of SCENARIOS) {
          const cells = b.builders.map((x) => {
            const r = b.results.find((y) => y.builder === x.name && y.fixture === f && y.scenario === s);
            if (r) return `${fmtNumber(r.median)} (${fmtNumber(r.min)} – ${fmtNumber(r.max)})`;
            return x.available ? 'failed' : 'skipped';
          });
          brow.push([`${f}: ${s}`, ...cells]);
        }
      }
      out.push(table(['fixture: build', ...b.builders.map((x) => `${x.name} median (min – max)`)], brow));
    }
    out.push('');
  }

  const notes = [
    ...report.skips.map((s) => `- skipped: ${s.driver}${s.workload ? ` / ${s.workload}` : ''}${s.metric ? ` / ${s.metric}` : ''}: ${s.reason}`),
    ...report.failures.map((f) => `- failed: ${f.driver} / ${f.workload} (run ${f.run}): ${f.error}`),
    ...(b?.failures ?? []).map((f) => `- failed: ${f.builder} build ${f.fixture} (run ${f.run}): ${f.error}`),
  ];
  if (notes.length) {
    out.push('### Skipped and failed');
    out.push('');
    out.push(...notes);
    out.push('');
  }
}
