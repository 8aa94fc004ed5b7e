// bench.json: the whole report, every run included, written atomically.
import { rename, writeFile } from 'node:fs/promises';
import type { BenchReport } from './types.ts';

export async function writeJsonReport(file: string, report: BenchReport): Promise<void> {
  await writeFile(`${file}.${process.pid}.tmp`, JSON.stringify(report, null, 2) + '\n');
  await rename(`${file}.${process.pid}.tmp`, file);
}
