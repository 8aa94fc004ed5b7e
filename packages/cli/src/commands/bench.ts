// `strata bench`: copy-on-write workloads on strata and its peers, and
// builds with strata and buildah; writes bench.json, bench.md and SVG charts.
import { readFile } from 'node:fs/promises';
import { UsageError } from '@strata/common';
import { runBench } from '@strata/bench';
import { bool, str, type Command } from '../command.ts';

function onOff(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v !== 'on' && v !== 'off') throw new UsageError(`strata bench: --strata-lower-passthrough must be on or off, not ${JSON.stringify(v)}`);
  return v === 'on';
}

function list(v: string | undefined): string[] {
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

export const bench: Command = {
  name: 'bench',
  summary: 'Benchmark strata against kernel overlayfs, fuse-overlayfs, unionfs-fuse and a plain directory',
  usage: [
    'Usage: strata bench [--drivers LIST] [--workloads LIST] [--quick] [--runs N] [--out DIR] [--data-dir DIR] [--strata-transport T] [--strata-lower-passthrough on|off]',
    '',
    'Runs each workload in a fresh mount of each driver over identical layer',
    'directories, N times, and reports median, min and max. Needs root (mounts,',
    'drop_caches). A driver whose program is missing is reported as skipped.',
    '',
    'Options:',
    '  --drivers LIST     comma-separated: strata,kernel,fuse-overlayfs,unionfs-fuse,plain (default: all)',
    '  --workloads LIST   comma-separated: seq-read,rand-read,seq-write,copy-up,xattr,create,stat,',
    '                     find (or find-1,find-8,find-32),rm-rf,rename,untar,builder (default: all)',
    '  --quick            small sizes and 1 run (CI)',
    '  --runs N           runs per figure (default 5; 1 with --quick)',
    '  --out DIR          where bench.json, bench.md and the SVG charts go (default: .bench)',
    '  --data-dir DIR     where the layer data is made (default: the OS temp dir)',
    '  --strata-transport T   strata\'s FUSE transport: native or fuse-native (default: strata\'s own default)',
    '  --strata-lower-passthrough on|off   mount strata with -o lower_passthrough=on|off (default: strata\'s own, on)',
  ].join('\n'),
  options: {
    drivers: { type: 'string' },
    workloads: { type: 'string' },
    quick: { type: 'boolean' },
    runs: { type: 'string' },
    out: { type: 'string' },
    'data-dir': { type: 'string' },
    'strata-transport': { type: 'string' },
    'strata-lower-passthrough': { type: 'string' },
  },
  async run(args, ctx) {
    const runsText = str(args, 'runs');
    const runs = runsText === undefined ? undefined : Number(runsText);
    if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) throw new UsageError(`strata bench: --runs: not a positive integer: ${runsText}`);
    const out = await runBench({
      drivers: list(str(args, 'drivers')),
      workloads: list(str(args, 'workloads')),
      quick: bool(args, 'quick'),
      runs,
      outDir: str(args, 'out') ?? '.bench',
      dataParent: str(args, 'data-dir'),
      strataTransport: str(args, 'strata-transport'),
      strataLowerPassthrough: onOff(str(args, 'strata-lower-passthrough')),
      command: ['strata', 'bench', ...process.argv.slice(3)].join(' '),
      progress: ctx.stderr,
    });
    if (ctx.json) {
      ctx.stdout.write(JSON.stringify(out.report) + '\n');
    } else {
      ctx.stdout.write(await readFile(out.markdownFile, 'utf8'));
      ctx.stdout.write(`\nwrote ${out.jsonFile}, ${out.markdownFile}, ${out.chartFiles.length} charts in ${out.chartFiles.length ? out.chartFiles[0]!.replace(/\/[^/]*$/, '') : '-'}\n`);
    }
    return out.report.failures.length ? 1 : 0;
  },
};
