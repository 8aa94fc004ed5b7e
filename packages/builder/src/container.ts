// Runs one command in a container whose root is an already-mounted rootfs:
// with runc and a generated OCI runtime-spec config.json (new mount, pid,
// ipc, uts and network namespaces; /proc, /dev, /dev/pts, /dev/shm,
// /dev/mqueue and a read-only /sys as a container has them; no host path
// bind-mounted), or, where runc is unavailable, `unshare` + `chroot`.
// Output is streamed to `onOutput`; the exit code is returned, not thrown.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '@strata/common';

export type Isolation = 'oci' | 'chroot';

export interface ContainerProcess {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface RunOptions {
  isolation: Isolation;
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Pass the caller's stdin/stdout/stderr through (strata run). */
  inherit?: boolean;
}

/** Directories runc mounts over; created in the rootfs if an image lacks them. */
export const MOUNT_POINTS = ['/proc', '/dev', '/sys'];

// Docker's default capability set for containers.
const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** The OCI runtime-spec config.json for `proc` on `rootfs`. */
export function runtimeSpec(rootfs: string, proc: ContainerProcess, terminal = false): Record<string, unknown> {
  const caps = proc.uid === 0 ? CAPS : [];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal,
      user: { uid: proc.uid, gid: proc.gid, additionalGids: proc.additionalGids },
      args: proc.args,
      env: proc.env,
      cwd: proc.cwd,
      capabilities: { bounding: CAPS, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: false },
    hostname: 'strata',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** Runs `proc` in `rootfs`; resolves with its exit code (128+signal if killed). */
export async function runContainer(rootfs: string, proc: ContainerProcess, opts: RunOptions): Promise<number> {
  return opts.isolation === 'oci' ? runOci(rootfs, proc, opts) : runChroot(rootfs, proc, opts);
}

async function runOci(rootfs: string, proc: ContainerProcess, opts: RunOptions): Promise<number> {
  const bundle = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-bundle-'));
  const id = `strata-${process.pid}-${randomBytes(4).toString('hex')}`;
  const state = path.join(os.tmpdir(), 'strata-runc');
  try {
    await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(runtimeSpec(rootfs, proc)));
    const r = await run('runc', ['--root', state, 'run', '--bundle', bundle, id], {
      allowFailure: true,
      onOutput: opts.onOutput,
      inherit: opts.inherit,
    });
    if (r.code === null) return 128 + (r.signal ? os.constants.signals[r.signal] ?? 0 : 0);
    return r.code;
  } finally {
    // `runc run` deletes the container when its process exits; only one it
    // left behind (runc killed, say) needs a delete, which is another runc start.
    if (await fs.access(path.join(state, id)).then(() => true, () => false)) {
      await run('runc', ['--root', state, 'delete', '--force', id], { allowFailure: true });
    }
    await fs.rm(bundle, { recursive: true, force: true });
  }
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function runChroot(rootfs: string, proc: ContainerProcess, opts: RunOptions): Promise<number> {
  // The host shell sets up the container's mounts inside the new mount
  // namespace, then chroot(8) enters the root as the user and exec's the command.
  const groups = proc.additionalGids.length ? ` --groups=${proc.additionalGids.join(',')}` : '';
  const inner = `cd ${shq(proc.cwd)} 2>/dev/null || cd /; exec "$@"`;
  const script = [
    'set -e',
    `R=${shq(rootfs)}`,
    'mount --make-rprivate /',
    'mount -t proc -o nosuid,noexec,nodev proc "$R/proc"',
    'mount -t tmpfs -o nosuid,mode=755 tmpfs "$R/dev"',
    'for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do IFS=: read n a b <<EOF',
    '$d',
    'EOF',
    'mknod -m 666 "$R/dev/$n" c $a $b; done',
    'mkdir -p "$R/dev/shm" && mount -t tmpfs -o mode=1777 shm "$R/dev/shm"',
    'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys" 2>/dev/null || true',
    `exec chroot --userspec=${proc.uid}:${proc.gid}${groups} "$R" /bin/sh -c ${shq(inner)} sh ${proc.args.map(shq).join(' ')}`,
  ].join('\n');
  const env = Object.fromEntries(proc.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const r = await run('unshare', ['--mount', '--pid', '--ipc', '--uts', '--net', '--fork', '/bin/sh', '-c', script], {
    allowFailure: true,
    env,
    onOutput: opts.onOutput,
    inherit: opts.inherit,
  });
  return r.code ?? 128;
}

/**
 * True if an executable runc is on PATH. Looked up, not run: every build asks,
 * and starting runc (a Go binary) costs a no-change rebuild ~50 ms.
 */
export async function haveRunc(): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      const p = path.join(dir, 'runc');
      if ((await fs.stat(p)).isFile()) {
        await fs.access(p, fsConstants.X_OK);
        return true;
      }
    } catch {
      // not in this directory
    }
  }
  return false;
}
