// The slice of (patched) fuse-native that strata uses.
declare module 'fuse-native' {
  type Cb = (...args: unknown[]) => void;
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: never[]) => void>, opts?: Record<string, unknown>);
    /** [uid, gid, pid] of the request whose op is being called (patched in). */
    context: [number, number, number];
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: Cb): void;
  }
  export default Fuse;
}
