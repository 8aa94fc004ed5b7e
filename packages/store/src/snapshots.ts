// Snapshots: committed ones are unpacked layer directories at
// snapshots/<chainid-hex>/ (overlay whiteout format); active ones are
// active/<key>/{upper,work}. Both live under the store root, on one
// filesystem, so committing an upper dir is a rename, never a copy, and a
// half-unpacked snapshot (a .tmp-* dir) is never visible under its chainID.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AlreadyExists, NotFound, UsageError, hexOf, isDigest, isErrno, parseDigest, type Digest } from '@strata/common';
import type { Snapshotter } from './types.ts';

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export class FsSnapshotter implements Snapshotter {
  readonly snapshotsDir: string;
  readonly activeDir: string;

  constructor(readonly root: string) {
    this.snapshotsDir = path.join(root, 'snapshots');
    this.activeDir = path.join(root, 'active');
  }

  dir(chainId: Digest): string {
    return path.join(this.snapshotsDir, hexOf(parseDigest(chainId, 'chainID')));
  }

  async exists(chainId: Digest): Promise<boolean> {
    return fs.existsSync(this.dir(chainId));
  }

  /** A fresh temp dir beside the snapshots (same filesystem) to unpack into. */
  tempDir(): string {
    const d = path.join(this.snapshotsDir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(d, 0o755);
    return d;
  }

  /**
   * Makes `dir` the committed snapshot `chainId` by rename. If another
   * process committed the same chain first, ours is discarded (same content).
   */
  async install(dir: string, chainId: Digest): Promise<string> {
    const final = this.dir(chainId);
    try {
      await fsp.rename(dir, final);
    } catch (err) {
      if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) {
        await fsp.rm(dir, { recursive: true, force: true });
      } else throw err;
    }
    return final;
  }

  private activePath(key: string): string {
    if (!KEY_RE.test(key)) throw new UsageError(`invalid snapshot key ${JSON.stringify(key)}`);
    return path.join(this.activeDir, key);
  }

  async prepare(key: string): Promise<{ upperDir: string; workDir: string }> {
    const base = this.activePath(key);
    try {
      await fsp.mkdir(base, { recursive: false, mode: 0o700 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new AlreadyExists(`active snapshot ${key} already exists in ${this.root}`);
      throw err;
    }
    const upperDir = path.join(base, 'upper');
    const workDir = path.join(base, 'work');
    await fsp.mkdir(upperDir, 0o755);
    await fsp.mkdir(workDir, 0o700);
    return { upperDir, workDir };
  }

  async commit(chainId: Digest, key: string): Promise<string> {
    const base = this.activePath(key);
    const upper = path.join(base, 'upper');
    if (!fs.existsSync(upper)) throw new NotFound(`active snapshot ${key} not found in ${this.root}`);
    const out = await this.install(upper, chainId);
    await fsp.rm(base, { recursive: true, force: true });
    return out;
  }

  async remove(key: string): Promise<void> {
    const base = this.activePath(key);
    if (!fs.existsSync(base)) throw new NotFound(`active snapshot ${key} not found in ${this.root}`);
    await fsp.rm(base, { recursive: true, force: true });
  }

  async *walk(): AsyncIterable<{ chainId: Digest; dir: string }> {
    let names: string[];
    try {
      names = (await fsp.readdir(this.snapshotsDir)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const n of names) {
      const chainId = `sha256:${n}`;
      if (isDigest(chainId)) yield { chainId, dir: path.join(this.snapshotsDir, n) };
    }
  }

  async usage(chainId: Digest): Promise<{ size: number; inodes: number }> {
    const root = this.dir(chainId);
    if (!fs.existsSync(root)) throw new NotFound(`snapshot ${chainId} not found in ${this.root}`);
    let size = 0;
    let inodes = 0;
    const seen = new Set<string>();
    const visit = async (d: string): Promise<void> => {
      for (const e of await fsp.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        const st = await fsp.lstat(p);
        const k = `${st.dev}:${st.ino}`;
        if (seen.has(k)) continue;
        seen.add(k);
        inodes++;
        size += st.blocks * 512;
        if (e.isDirectory()) await visit(p);
      }
    };
    await visit(root);
    return { size, inodes };
  }
}
