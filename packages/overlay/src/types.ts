// The contracts of @strata/overlay. It knows layer directories and mounts,
// never images. A mount is served by a separate process (a process must never
// make a synchronous call into a FUSE mount it serves itself: that deadlocks),
// so the library API spawns the same server `strata mount` runs.

/** A mount described as data, like containerd's: any driver can mount it. */
export interface Mount {
  /** "fuse.strata" (strata's FUSE server) or "overlay" (kernel overlayfs). */
  type: 'fuse.strata' | 'overlay';
  source: string;
  /** mount -o style options, e.g. ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"]. */
  options: string[];
}

export interface OverlayOptions {
  /** Lower layer dirs, top first (as lowerdir=A:B:C lists them). */
  lowerDirs: string[];
  /** Writable layer; absent means a read-only mount. */
  upperDir?: string;
  /** Scratch dir on the same filesystem as upperDir, required with upperDir. */
  workDir?: string;
  /** Which format deletions write: overlay char devices 0/0 (default) or aufs .wh. files. */
  whiteout?: 'overlay' | 'aufs';
  readOnly?: boolean;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /** Build mounts skip fsync of copy-ups (the layer is committed afterwards anyway). */
  noSync?: boolean;
}

/** A live mount; unmount() returns once the server process has exited. */
export interface MountHandle {
  readonly mountpoint: string;
  readonly pid: number;
  unmount(): Promise<void>;
}
