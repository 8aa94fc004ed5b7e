// strata's builder through its CLI (`strata --root STORAGE build ...`), a
// child process like buildah. Reported as skipped until `strata build` exists.
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import { sq } from '../timed.ts';
import type { ImageBuilder } from './types.ts';

const CLI = fileURLToPath(new URL('../../../cli/bin/strata.js', import.meta.url));

export const strataBuild: ImageBuilder = {
  name: 'strata',
  async probe() {
    const res = await run(process.execPath, [CLI, 'build', '--help'], { allowFailure: true, timeoutMs: 60_000 }).catch(() => undefined);
    if (!res || res.code !== 0) return { available: false, reason: 'strata build not available' };
    const v = await run(process.execPath, [CLI, 'version'], { allowFailure: true }).catch(() => undefined);
    return { available: true, version: v?.stdout.trim() || 'strata' };
  },
  options: 'defaults (runc isolation, strata FUSE mounts), --layer-compression none',
  command(job) {
    // Uncompressed layers: buildah's local storage keeps layers as plain diffs
    // too (it compresses only on push), so both builders do the same work.
    return `${sq(process.execPath)} ${sq(CLI)} --root ${sq(job.storage)} build -q --layer-compression none -f ${sq(job.dockerfile)} -t ${sq(job.tag)} ${sq(job.contextDir)}`;
  },
  async cleanup() {
    // Everything strata keeps is under --root, which the runner deletes.
  },
};
