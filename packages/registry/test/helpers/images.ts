// Test images: layers made with tar(1) from small directory trees (and the
// busybox rootfs fixture), stored through the store's verified writer.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { run, sha256, type Digest } from '@strata/common';
import { MediaType, type Descriptor, type Store } from '@strata/store';

export interface LayerSpec {
  /** Relative path -> file content (a number: that many random bytes). */
  files?: Record<string, string | number>;
  /** Use this tar as the layer as it is. */
  tarFile?: string;
  gzip?: boolean;
}

async function storeFile(store: Store, file: string): Promise<{ digest: Digest; size: number }> {
  const w = await store.content.writer();
  await new Promise<void>((resolve, reject) => {
    const r = fs.createReadStream(file);
    r.on('error', reject);
    r.on('end', resolve);
    r.pipe(w, { end: false });
  });
  return w.commit();
}

/** Makes the layers, stores config and manifest, tags `name`; returns the manifest descriptor. */
export async function makeImage(store: Store, name: string, layers: LayerSpec[]): Promise<Descriptor> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'strata-testimg-'));
  try {
    const descs: Descriptor[] = [];
    const diffIds: Digest[] = [];
    for (const [i, spec] of layers.entries()) {
      let tar = spec.tarFile;
      if (!tar) {
        const root = path.join(dir, `l${i}`);
        for (const [rel, content] of Object.entries(spec.files ?? {})) {
          await fsp.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
          await fsp.writeFile(path.join(root, rel), typeof content === 'number' ? crypto.randomBytes(content) : content);
        }
        await fsp.mkdir(root, { recursive: true });
        tar = path.join(dir, `l${i}.tar`);
        await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-cf', tar, '-C', root, '.']);
      }
      const raw = await fsp.readFile(tar);
      diffIds.push(sha256(raw));
      if (spec.gzip) {
        const gz = path.join(dir, `l${i}.tar.gz`);
        await fsp.writeFile(gz, zlib.gzipSync(raw));
        const info = await storeFile(store, gz);
        descs.push({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size });
      } else {
        const info = await storeFile(store, tar);
        descs.push({ mediaType: MediaType.ociLayer, digest: info.digest, size: info.size });
      }
    }
    const manifest = await store.putImage({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }, descs);
    await store.tag(name, manifest);
    return manifest;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Every blob digest in the store. */
export async function blobSet(store: Store): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const b of store.content.walk()) out.add(b.digest);
  return out;
}
