// What the figures were measured on: recorded in every JSON report.
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import type { FuseFloor } from './fuse-floor.ts';

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  kernel: string;
  os: string;
  /** File system type and device of the directory the layers live on. */
  filesystem: string;
  node: string;
  fio: string;
  /** git commit of the strata checkout that ran the benchmark, if known. */
  strataCommit: string;
  /** 1/5/15-minute load averages when the benchmark started, and when it ended: how busy the machine was besides. */
  loadAverage: number[];
  loadAverageEnd?: number[];
  /** The FUSE round trip of a server that answers at once (fuse-floor.ts), when file-system workloads ran. */
  fuseFloor?: FuseFloor;
}

export async function machineInfo(dataDir: string): Promise<MachineInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type();
  const fsType = await run('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', dataDir], { allowFailure: true }).catch(() => undefined);
  const [fsName, fsSource] = fsType?.stdout.trim().split(/\s+/) ?? [];
  const fioV = await run('fio', ['--version'], { allowFailure: true }).catch(() => undefined);
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const commit = await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { allowFailure: true }).catch(() => undefined);
  return {
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    os: pretty,
    filesystem: fsName ? `${fsName} (${fsSource})` : 'unknown',
    node: process.version,
    fio: fioV?.stdout.trim() || 'not installed',
    strataCommit: commit?.stdout.trim() || 'unknown',
    loadAverage: os.loadavg(),
  };
}
