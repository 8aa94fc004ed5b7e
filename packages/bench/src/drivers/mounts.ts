// Mount-table helpers every driver shares: is a path mounted, and an
// unmount that waits out a briefly busy mount instead of leaving it behind.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, StrataError } from '@strata/common';

/** Mountpoints in /proc/self/mounts (octal escapes decoded). */
export async function mountpoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text.split('\n').filter(Boolean)
    .map((l) => l.split(' ')[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

export async function isMounted(dir: string): Promise<boolean> {
  return (await mountpoints()).includes(dir);
}

/** Waits until `dir` is a mountpoint (FUSE daemons may return before the kernel lists it). */
export async function waitMounted(dir: string, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await isMounted(dir))) {
    if (Date.now() > until) throw new StrataError(`${what}: ${dir} did not appear in the mount table within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** umount(8) with retries while busy; a lazy unmount as the last resort so nothing is left mounted. */
export async function unmount(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (!(await isMounted(dir))) return;
    const res = await run('umount', [dir], { allowFailure: true });
    if (res.code === 0) return;
    await sleep(100);
  }
  await run('umount', ['-l', dir], { allowFailure: true });
  if (await isMounted(dir)) throw new StrataError(`umount ${dir}: still mounted`);
}

/** The first line of `cmd args` output (stdout or stderr) matching `re`, or null if the program is missing. */
export async function versionLine(cmd: string, args: string[], re: RegExp): Promise<string | null> {
  try {
    const res = await run(cmd, args, { allowFailure: true, timeoutMs: 10_000 });
    const line = `${res.stdout}\n${res.stderr}`.split('\n').find((l) => re.test(l));
    return line?.trim() ?? `${cmd} (version unknown)`;
  } catch {
    return null;
  }
}
