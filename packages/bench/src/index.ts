// @strata/bench: copy-on-write workloads across drivers, and builds across builders.
export { runBench, BUILDER_WORKLOAD, type BenchOptions, type BenchOutput } from './bench.ts';
export type { BenchReport, DriverInfo } from './report/types.ts';
export { renderMarkdown } from './report/markdown.ts';
export { renderCharts, type Chart } from './report/charts.ts';
export { DRIVER_NAMES, type DriverName, type MetricResult, type MetricDef, type Skip, type Failure } from './types.ts';
export { drivers } from './drivers/index.ts';
export { FULL_SIZES, QUICK_SIZES } from './sizes.ts';
export { TARGETS, type TargetCheck } from './targets.ts';
