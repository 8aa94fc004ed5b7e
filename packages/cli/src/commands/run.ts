import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Isolation } from '@strata/builder';
import { UsageError } from '@strata/common';
import { bool, str, type Command } from '../command.ts';

export const runCmd: Command = {
  name: 'run',
  summary: 'Run a command in a container of an image (runc on a union mount)',
  usage: [
    'Usage: strata run [--rm] [--isolation oci|chroot] [-w DIR] [-u USER] [-e K=V]... IMAGE [CMD [ARG...]]',
    '',
    "Mounts the image's layers under a fresh upper dir with strata's FUSE overlay and",
    'runs CMD (default: the image ENTRYPOINT + CMD) with runc, in new mount, pid, ipc,',
    'uts and network namespaces. Exits with the command\'s exit code. Without --rm the',
    "container's upper dir (what it changed) is kept and its path printed.",
  ].join('\n'),
  options: {
    rm: { type: 'boolean' },
    isolation: { type: 'string' },
    workdir: { type: 'string', short: 'w' },
    user: { type: 'string', short: 'u' },
    env: { type: 'string', short: 'e', multiple: true },
  },
  async run(args, ctx) {
    const [ref, ...cmd] = args.positionals;
    if (!ref) throw new UsageError(`strata run: an IMAGE is required\n\n${runCmd.usage}`);
    const isolation = (str(args, 'isolation') ?? 'oci') as Isolation;
    if (isolation !== 'oci' && isolation !== 'chroot') throw new UsageError('strata run: --isolation must be oci or chroot');
    const { openStore } = await import('@strata/store');
    const { LayerView, mountRootfs, runContainer, resolveUser, defaultDriver, closeMountWorker } = await import('@strata/builder');
    const store = await openStore(ctx.root);
    const img = await store.resolve(ref);
    const c = img.config.config ?? {};
    const argv = [...(c.Entrypoint ?? []), ...(cmd.length ? cmd : c.Cmd ?? [])];
    if (argv.length === 0) throw new UsageError(`strata run: ${ref} has no ENTRYPOINT or CMD; give a command`);
    const lowers = await store.layerDirs(img);
    const key = `run-${process.pid}-${randomBytes(6).toString('hex')}`;
    const { upperDir, workDir } = await store.snapshots.prepare(key);
    const ids = await resolveUser(new LayerView(lowers), str(args, 'user') ?? c.User ?? '', `${ref}: USER`);
    const env = [...(c.Env ?? [])];
    for (const e of (args.values.env as string[] | undefined) ?? []) env.push(e);
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${ids.home || '/root'}`);
    const mnt = await mountRootfs(defaultDriver(), lowers, upperDir, workDir);
    let code: number;
    try {
      code = await runContainer(mnt.mountpoint, { args: argv, env, cwd: str(args, 'workdir') ?? c.WorkingDir ?? '/', uid: ids.uid, gid: ids.gid, additionalGids: ids.additionalGids }, { isolation, inherit: true });
    } finally {
      await mnt.unmount();
      closeMountWorker();
    }
    if (bool(args, 'rm')) await store.snapshots.remove(key);
    else ctx.stderr.write(`strata run: the container's changes are in ${path.resolve(upperDir)} (remove with: rm -rf ${path.dirname(upperDir)})\n`);
    await fs.access(upperDir).catch(() => {});
    return code;
  },
};
