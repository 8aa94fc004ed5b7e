// `strata mount`: serve a union mount over FUSE, options as mount -t overlay
// takes them. Daemonises (returns once the mount is usable) unless -f.
// Also the body of /sbin/mount.fuse.strata (mount -t fuse.strata), which
// passes SOURCE MOUNTPOINT -o OPTS.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotFound, UsageError } from '@strata/common';
import { alive, mountOverlay, parseMountOptions, readState, runServer, statsFileFor } from '@strata/overlay';
import { bool, printTable, str, strs, type Command } from '../command.ts';

const usage = `Usage: strata mount [-f] [-o OPTIONS]... [--whiteout overlay|aufs] [SOURCE] MOUNTPOINT
       strata mount --stats MOUNTPOINT

Stacks read-only layer directories under one writable directory and serves
the merged view over FUSE with overlay2 semantics (kernel overlayfs rules).

Options:
  -o OPTIONS        lowerdir=A:B:C[,upperdir=U,workdir=W] (leftmost lowerdir on top,
                    "\\:" escapes a colon; lowerdir alone gives a read-only mount),
                    and ro, rw, dev, suid, allow_other, default_permissions, noatime;
                    transport=native|fuse-native picks the FUSE transport (default:
                    $STRATA_FUSE_TRANSPORT, else native for root, fuse-native otherwise);
                    lower_passthrough=on|off (native; default on): lower-layer files are
                    read through FUSE passthrough, at the host page cache's speed; a file
                    opened before another open copies it up keeps reading the lower file,
                    as under fuse-overlayfs; off: it reads the copy, as under overlayfs
  -f, --foreground  serve in this process until unmounted (no daemon)
  --whiteout FMT    format deletions write: overlay (char device 0/0, default) or aufs (.wh.NAME)
  --stats           print per-operation counts and latencies of the server at MOUNTPOINT`;

export const mount: Command = {
  name: 'mount',
  summary: 'Mount layer directories as one union filesystem (FUSE)',
  usage,
  options: {
    o: { type: 'string', short: 'o', multiple: true },
    foreground: { type: 'boolean', short: 'f' },
    whiteout: { type: 'string' },
    stats: { type: 'boolean' },
  },
  async run(args, ctx) {
    const pos = args.positionals;
    if (pos.length < 1 || pos.length > 2) throw new UsageError(`strata mount: expected [SOURCE] MOUNTPOINT\n\n${usage}`);
    const mp = pos[pos.length - 1]!;
    if (bool(args, 'stats')) return printStats(mp, ctx.json, ctx.stdout);
    const opts = parseMountOptions(strs(args, 'o'));
    const wh = str(args, 'whiteout');
    if (wh !== undefined) {
      if (wh !== 'overlay' && wh !== 'aufs') throw new UsageError(`strata mount: --whiteout must be overlay or aufs, not '${wh}'`);
      opts.whiteout = wh;
    }
    if (bool(args, 'foreground')) return runServer(mp, opts);
    await mountOverlay(mp, opts);
    return 0;
  },
};

async function printStats(mp: string, json: boolean, out: NodeJS.WritableStream): Promise<number> {
  const state = readState(mp);
  if (!state || !alive(state.pid)) throw new NotFound(`${mp}: no strata server is serving it`);
  const file = statsFileFor(mp);
  const before = fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0;
  process.kill(state.pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(file) && fs.statSync(file).mtimeMs !== before) break;
    await sleep(10);
  }
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { since: string; ops: Record<string, { count: number; errors: number; avgUs: number; maxUs: number }> };
  if (json) {
    out.write(JSON.stringify(data) + '\n');
    return 0;
  }
  printTable(out, ['OP', 'COUNT', 'ERRORS', 'AVG µs', 'MAX µs'], Object.entries(data.ops).map(([op, s]) => [op, String(s.count), String(s.errors), s.avgUs.toFixed(1), s.maxUs.toFixed(0)]));
  return 0;
}
