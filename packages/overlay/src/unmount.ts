// Unmounting a FUSE mount: fusermount -u (what unprivileged users have),
// else umount; a mount whose server died answers ENOTCONN and needs a lazy
// detach (umount -l / fusermount -uz) to go away.
import { run } from '@strata/common';

/** Unmounts `mp`; with `lazy`, detaches it even when busy or dead. */
export async function unmountPath(mp: string, lazy = false): Promise<void> {
  const r = await run('fusermount', lazy ? ['-uz', mp] : ['-u', mp], { allowFailure: true });
  if (r.code === 0) return;
  const r2 = await run('umount', lazy ? ['-l', mp] : [mp], { allowFailure: true });
  if (r2.code === 0) return;
  throw new Error(`cannot unmount ${mp}: ${(r.stderr || r2.stderr).trim()}`);
}
