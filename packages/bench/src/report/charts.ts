// SVG charts, drawn by vega-lite/vega (rendered headless with vega's SVG
// renderer, no browser): one bar chart per workload family (one panel per
// metric, min–max whiskers), the layer-depth curve of `find`, and the
// builder comparison.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { DRIVER_NAMES } from '../types.ts';
import { FIND_FAMILY } from '../workloads/find.ts';
import type { BenchReport } from './types.ts';

export interface Chart {
  /** File name (no directory), e.g. "sequential-io.svg". */
  file: string;
  title: string;
  svg: string;
}

const COLORS: Record<string, string> = {
  strata: '#d62728', kernel: '#1f77b4', 'fuse-overlayfs': '#2ca02c', 'unionfs-fuse': '#9467bd', plain: '#7f7f7f', buildah: '#ff7f0e',
};

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function colorScale(domain: string[]) {
  return { domain, range: domain.map((d) => COLORS[d] ?? '#17becf') };
}

export async function renderCharts(report: BenchReport): Promise<Chart[]> {
  const charts: Chart[] = [];
  const drivers = DRIVER_NAMES.filter((d) => report.results.some((r) => r.driver === d));
  const families = [...new Set(report.metrics.map((m) => m.family))];
  for (const family of families) {
    const metrics = report.metrics.filter((m) => m.family === family);
    const values = report.results
      .filter((r) => metrics.some((m) => m.id === r.metric))
      .map((r) => {
        const m = metrics.find((x) => x.id === r.metric)!;
        return { panel: `${m.label} (${m.unit})`, driver: r.driver, median: r.median, min: r.min, max: r.max };
      });
    if (values.length === 0) continue;
    const title = `${family}: median of ${report.runs} run${report.runs > 1 ? 's' : ''}${report.quick ? ' (--quick sizes)' : ''}`;
    const spec: TopLevelSpec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      data: { values },
      facet: { column: { field: 'panel', type: 'nominal', title: null, sort: metrics.map((m) => `${m.label} (${m.unit})`) } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: 40 * drivers.length,
        height: 220,
        layer: [
          {
            mark: 'bar',
            encoding: {
              x: { field: 'driver', type: 'nominal', sort: drivers, title: null, axis: { labelAngle: -40 } },
              y: { field: 'median', type: 'quantitative', title: null },
              color: { field: 'driver', type: 'nominal', scale: colorScale(drivers), legend: null },
              tooltip: [{ field: 'driver' }, { field: 'median' }, { field: 'min' }, { field: 'max' }],
            },
          },
          {
            mark: { type: 'rule', color: 'black' },
            encoding: {
              x: { field: 'driver', type: 'nominal', sort: drivers },
              y: { field: 'min', type: 'quantitative' },
              y2: { field: 'max' },
            },
          },
        ],
      },
    };
    charts.push({ file: `${slug(family)}.svg`, title, svg: await render(spec) });
  }

  // The layer-depth curve: find time against the number of lower layers.
  const depth = report.results.flatMap((r) => {
    const m = /^find-(\d+)-(cold|warm)$/.exec(r.metric);
    return m && report.metrics.find((x) => x.id === r.metric)?.family === FIND_FAMILY
      ? [{ layers: Number(m[1]), cache: m[2]!, driver: r.driver, median: r.median }] : [];
  });
  if (depth.length) {
    const title = `find over ${report.sizes.findFiles} files vs number of lower layers (ms, log scale)`;
    charts.push({
      file: 'layer-depth.svg',
      title,
      svg: await render({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title,
        data: { values: depth },
        facet: { column: { field: 'cache', type: 'nominal', title: null, sort: ['cold', 'warm'] } },
        spec: {
          width: 260,
          height: 220,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'layers', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { values: report.sizes.findLayers }, title: 'lower layers' },
            y: { field: 'median', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
            color: { field: 'driver', type: 'nominal', scale: colorScale(drivers), sort: drivers },
          },
        },
      }),
    });
  }

  const b = report.builder;
  if (b && b.results.length) {
    const values = b.results.map((r) => ({ panel: r.fixture, scenario: r.scenario, builder: r.builder, median: r.median, min: r.min, max: r.max }));
    const builders = [...new Set(values.map((v) => v.builder))];
    const title = `builds: strata vs buildah (ms, median of ${report.runs})`;
    charts.push({
      file: 'builder.svg',
      title,
      svg: await render({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title,
        data: { values },
        facet: { column: { field: 'panel', type: 'nominal', title: null } },
        spec: {
          width: 240,
          height: 220,
          mark: 'bar',
          encoding: {
            x: { field: 'scenario', type: 'nominal', sort: ['cold', 'no-change', 'one-file-changed'], title: null, axis: { labelAngle: 0 } },
            xOffset: { field: 'builder', type: 'nominal', sort: builders },
            y: { field: 'median', type: 'quantitative', title: 'ms' },
            color: { field: 'builder', type: 'nominal', scale: colorScale(builders) },
          },
        },
      }),
    });
  }
  return charts;
}
