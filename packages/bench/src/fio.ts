// fio for the data-path workloads: it does the I/O in its own process and
// reports bandwidth and IOPS from its own clock (--output-format=json).
import { run, StrataError } from '@strata/common';

export interface FioJob {
  filename: string;
  rw: 'read' | 'write' | 'randread';
  bs: string;
  size: number;
  /** false keeps the page cache (hot runs); fio drops the file's cache by default. */
  invalidate?: boolean;
  /** Stop after this many seconds even if `size` is not done. */
  runtimeSec?: number;
}

export interface FioResult { bwBytesPerSec: number; iops: number; ioBytes: number; runtimeMs: number }

interface FioSide { bw_bytes: number; iops: number; io_bytes: number; runtime: number }
interface FioJson { jobs: Array<{ error: number; read: FioSide; write: FioSide }> }

export async function fio(job: FioJob, cwd: string): Promise<FioResult> {
  const args = [
    '--output-format=json', '--name=bench', `--filename=${job.filename}`,
    `--rw=${job.rw}`, `--bs=${job.bs}`, `--size=${job.size}`,
    '--ioengine=psync', '--numjobs=1', '--thread',
    `--invalidate=${job.invalidate === false ? 0 : 1}`,
  ];
  if (job.rw !== 'write') args.push('--readonly');
  // A write of a new file must not be pre-laid-out by fio (that would be an untimed write).
  if (job.rw === 'write') args.push('--create_on_open=1', '--fallocate=none');
  if (job.runtimeSec) args.push(`--runtime=${job.runtimeSec}`);
  const res = await run('fio', args, { cwd, timeoutMs: 30 * 60_000 });
  // fio may print warnings before the JSON document.
  const start = res.stdout.indexOf('{');
  let doc: FioJson;
  try {
    doc = JSON.parse(res.stdout.slice(start)) as FioJson;
  } catch {
    throw new StrataError(`fio ${args.join(' ')}: output is not JSON: ${res.stdout.slice(0, 200)}`);
  }
  const j = doc.jobs[0];
  if (!j || j.error) throw new StrataError(`fio ${job.rw} ${job.filename}: job failed (error ${j?.error})`);
  const side = job.rw === 'write' ? j.write : j.read;
  if (side.io_bytes === 0) throw new StrataError(`fio ${job.rw} ${job.filename}: no I/O was done`);
  return { bwBytesPerSec: side.bw_bytes, iops: side.iops, ioBytes: side.io_bytes, runtimeMs: side.runtime };
}

export async function fioVersion(): Promise<string> {
  return (await run('fio', ['--version'])).stdout.trim();
}
