// Cold-cache runs: flush dirty data, then drop the page, dentry and inode
// caches of every file system (FUSE ones included). Needs root.
import { access, constants } from 'node:fs/promises';
import { run } from '@strata/common';

const KNOB = '/proc/sys/vm/drop_caches';

/** null if caches can be dropped here, else why not. */
export async function dropCachesUnavailable(): Promise<string | null> {
  try {
    await access(KNOB, constants.W_OK);
    return null;
  } catch {
    return `${KNOB} is not writable (cold runs need root)`;
  }
}

export async function dropCaches(): Promise<void> {
  // A child shell does it so the write is the same one a user would type.
  await run('sh', ['-c', `sync; echo 3 > ${KNOB}`]);
}
