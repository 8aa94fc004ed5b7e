// buildah as the peer builder: vfs storage and chroot isolation (what works
// unprivileged-in-a-container and needs no kernel overlay), layer caching on.
import { run } from '@strata/common';
import { sq } from '../timed.ts';
import type { BuildJob, ImageBuilder } from './types.ts';

function storageArgs(job: BuildJob): string {
  return `--root ${sq(`${job.storage}/root`)} --runroot ${sq(`${job.storage}/run`)} --storage-driver vfs`;
}

export const buildah: ImageBuilder = {
  name: 'buildah',
  options: 'vfs storage, chroot isolation, --layers',
  async probe() {
    const res = await run('buildah', ['--version'], { allowFailure: true }).catch(() => undefined);
    if (!res || res.code !== 0) return { available: false, reason: 'buildah is not installed (apt-get install buildah)' };
    return { available: true, version: res.stdout.trim() };
  },
  command(job) {
    return `buildah ${storageArgs(job)} bud --isolation chroot --layers -q -f ${sq(job.dockerfile)} -t ${sq(job.tag)} ${sq(job.contextDir)}`;
  },
  async cleanup(job) {
    await run('bash', ['-c', `buildah ${storageArgs(job)} rm --all; buildah ${storageArgs(job)} rmi --all --force`], { allowFailure: true });
  },
};
