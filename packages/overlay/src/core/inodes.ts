// Inode numbers of the merged view: stable for the life of the mount and
// unique across layers (two layers' files may share a host inode number on
// different filesystems, or the same one on one filesystem, so host numbers
// are never passed through). A host file (dev, ino) gets one number the
// first time it is seen; a copy-up hands its number on to the upper copy,
// so hard links and open files keep their identity across copy-up.
export class Inodes {
  private next = 2;
  /**
   * Host device -> host inode number -> merged number. Numbers, not
   * "dev:ino" strings: a cold walk's listings map thousands of files, and a
   * string key per lookup cost about 2 us of each file's 13.
   */
  private readonly byHost = new Map<number, Map<number, number>>();
  /**
   * Told of every change to the map (n 0: forgotten): the native loop keeps
   * a copy, to number the files it lists as this map would.
   */
  onChange: ((dev: number, ino: number, n: number) => void) | null = null;
  /**
   * Asked when this map has no number for a host file: numbers given
   * elsewhere (the native loop numbers the files it lists from a block set
   * aside with reserve(), and keeps them in its own map) are taken from
   * there on first use here. 0: none.
   */
  elsewhere: ((dev: number, ino: number) => number) | null = null;

  private dev(dev: number): Map<number, number> {
    let m = this.byHost.get(dev);
    if (!m) this.byHost.set(dev, (m = new Map()));
    return m;
  }

  /** The merged inode number of host file (dev, ino), assigned on first use. */
  of(dev: number, ino: number): number {
    const m = this.dev(dev);
    let n = m.get(ino);
    if (n === undefined) {
      n = this.elsewhere?.(dev, ino) || 0;
      if (n) m.set(ino, n);
      else {
        n = this.next++;
        m.set(ino, n);
        this.onChange?.(dev, ino, n);
      }
    }
    return n;
  }

  /**
   * A new number for host file (dev, ino), which was made just now: the
   * host may have reused the inode number of a file deleted earlier in the
   * mount, whose merged number must not pass to it (the kernel may still
   * hold that number, and a lower hard link copied up under it keeps it).
   */
  renew(dev: number, ino: number): number {
    const n = this.next++;
    this.dev(dev).set(ino, n);
    this.onChange?.(dev, ino, n);
    return n;
  }

  /** Every (dev, ino, n) the map holds. */
  forEach(fn: (dev: number, ino: number, n: number) => void): void {
    for (const [dev, m] of this.byHost) for (const [ino, n] of m) fn(dev, ino, n);
  }

  /** Sets aside `count` numbers no host file will be given (for files made elsewhere, see Overlay.adoptCreated); the first one. */
  reserve(count: number): number {
    const first = this.next;
    this.next += count;
    return first;
  }

  /** Makes host file (dev, ino) carry merged number `n` (after a copy-up). */
  alias(dev: number, ino: number, n: number): void {
    this.dev(dev).set(ino, n);
    this.onChange?.(dev, ino, n);
  }

  /** Forgets a host file (its inode number may be reused by the host). */
  forget(dev: number, ino: number): void {
    if (this.byHost.get(dev)?.delete(ino)) this.onChange?.(dev, ino, 0);
  }
}

/** The root directory's inode number (FUSE_ROOT_ID). */
export const ROOT_INO = 1;
