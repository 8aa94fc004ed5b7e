// `strata export`: one image as an OCI image layout tar (what
// `skopeo copy oci-archive:` and `umoci` read) or as a `docker save` tar
// (what `podman load` / `docker load` read). Blobs stream from the content
// store, verified as they are read; the archive is written to a temp file
// beside the output and renamed into place, so a failure leaves no
// half-written archive.
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatch, StrataError, hexOf, newHash, type Digest } from '@strata/common';
import { encodeHeader, padding, type TarHeader } from './tar-header.ts';
import { decompressor, compressionOf } from './compression.ts';
import { REF_NAME } from './layout.ts';
import { MediaType, type Descriptor, type ImageIndex } from './types.ts';
import type { FsStore } from './store.ts';

export type ExportFormat = 'oci' | 'docker';

function header(name: string, type: 'file' | 'dir', size: number): TarHeader {
  return {
    name, type, size, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0,
    linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(),
  };
}

/** Writes `chunk` to `out` with backpressure; rejects if `out` failed (e.g. EPIPE on a closed pipe). */
async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (out.errored) throw new StrataError(`cannot write the archive: ${out.errored.message}`);
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => { out.off('error', onError); resolve(); };
    const onError = (e: Error) => { out.off('drain', onDrain); reject(new StrataError(`cannot write the archive: ${e.message}`)); };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

async function uncompressedSize(store: FsStore, d: Descriptor): Promise<{ size: number; diffId: Digest }> {
  const h = newHash();
  let size = 0;
  const dec = decompressor(compressionOf(d.mediaType));
  const done = pipeline(store.content.reader(d.digest), dec);
  for await (const c of dec) { size += (c as Buffer).length; h.update(c as Buffer); }
  await done;
  return { size, diffId: `sha256:${h.digest('hex')}` };
}

/** Exports image `ref` to `outFile`; returns the manifest digest written. */
export async function exportImage(store: FsStore, ref: string, outFile: string, format: ExportFormat): Promise<{ name: string; manifest: Digest }> {
  const img = await store.resolve(ref);
  const name = img.ref.startsWith('sha256:') ? null : img.ref;
  // "-" streams to stdout (for `strata export IMG -o - | podman load`); a
  // file is written beside its final name and renamed into place.
  const toStdout = outFile === '-';
  const tmp = toStdout ? '' : path.join(path.dirname(path.resolve(outFile)), `.${path.basename(outFile)}.tmp-${process.pid}`);
  const out: Writable = toStdout ? process.stdout : fs.createWriteStream(tmp, { highWaterMark: CHUNK });
  if (toStdout) out.on('error', () => { /* surfaced by write() */ });
  const closed = toStdout ? Promise.resolve() : new Promise<void>((res, rej) => { out.on('close', res); out.on('error', rej); });
  try {
    const addBytes = async (n: string, data: Buffer) => {
      await write(out, encodeHeader(header(n, 'file', data.length)));
      await write(out, data);
      await write(out, Buffer.alloc(padding(data.length)));
    };
    const addStream = async (n: string, size: number, src: Readable) => {
      await write(out, encodeHeader(header(n, 'file', size)));
      let got = 0;
      for await (const c of src) { got += (c as Buffer).length; await write(out, c as Buffer); }
      if (got !== size) throw new Error(`${n}: expected ${size} bytes, streamed ${got}`);
      await write(out, Buffer.alloc(padding(size)));
    };
    await write(out, encodeHeader(header('blobs/', 'dir', 0)));
    await write(out, encodeHeader(header('blobs/sha256/', 'dir', 0)));
    const blob = (d: Digest) => `blobs/sha256/${hexOf(d)}`;
    const configBytes = await store.content.readBlob(img.configDescriptor.digest);
    if (format === 'oci') {
      const written = new Set<string>();
      for (const l of img.manifest.layers) {
        if (written.has(l.digest)) continue;
        written.add(l.digest);
        await addStream(blob(l.digest), (await store.content.info(l.digest)).size, store.content.reader(l.digest));
      }
      await addBytes(blob(img.configDescriptor.digest), configBytes);
      const manifestBytes = await store.content.readBlob(img.manifestDescriptor.digest);
      await addBytes(blob(img.manifestDescriptor.digest), manifestBytes);
      const index: ImageIndex = {
        schemaVersion: 2, mediaType: MediaType.ociIndex,
        manifests: [{
          mediaType: img.manifestDescriptor.mediaType ?? MediaType.ociManifest,
          digest: img.manifestDescriptor.digest, size: manifestBytes.length,
          ...(name ? { annotations: { [REF_NAME]: name } } : {}),
        }],
      };
      await addBytes('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
      await addBytes('index.json', Buffer.from(JSON.stringify(index)));
    } else {
      // docker save: layers as uncompressed tars named by their diffID.
      const layerNames: string[] = [];
      const written = new Set<string>();
      for (const [i, l] of img.manifest.layers.entries()) {
        const diffId = img.config.rootfs.diff_ids[i]!;
        layerNames.push(blob(diffId));
        if (written.has(diffId)) continue;
        written.add(diffId);
        if (compressionOf(l.mediaType) === 'none') {
          await addStream(blob(diffId), (await store.content.info(l.digest)).size, store.content.reader(l.digest));
        } else {
          // The tar header needs the size first: one pass to count, one to copy.
          const { size, diffId: got } = await uncompressedSize(store, l);
          if (got !== diffId) throw new DigestMismatch(`layer ${l.digest} (uncompressed)`, diffId, got);
          const dec = decompressor(compressionOf(l.mediaType));
          const done = pipeline(store.content.reader(l.digest), dec);
          done.catch(() => undefined);
          await addStream(blob(diffId), size, dec);
          await done;
        }
      }
      await addBytes(blob(img.configDescriptor.digest), configBytes);
      const manifest = [{ Config: blob(img.configDescriptor.digest), RepoTags: name ? [name] : [], Layers: layerNames }];
      await addBytes('manifest.json', Buffer.from(JSON.stringify(manifest)));
      if (name) {
        const colon = name.lastIndexOf(':');
        const repos = { [name.slice(0, colon)]: { [name.slice(colon + 1)]: hexOf(layerNames.length ? img.config.rootfs.diff_ids[layerNames.length - 1]! : img.configDescriptor.digest) } };
        await addBytes('repositories', Buffer.from(JSON.stringify(repos)));
      }
    }
    await write(out, Buffer.alloc(1024));
    if (!toStdout) {
      out.end();
      await closed;
      fs.renameSync(tmp, outFile);
    }
  } catch (err) {
    if (!toStdout) {
      out.destroy();
      fs.rmSync(tmp, { force: true });
    }
    throw err;
  }
  return { name: name ?? img.manifestDescriptor.digest, manifest: img.manifestDescriptor.digest };
}
