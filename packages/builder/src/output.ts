// `--output type=oci,dest=DIR`: writes an image of the store as a standalone
// OCI image layout (oci-layout, index.json with the ref name, blobs/), the
// form skopeo, umoci and the conformance comparator read.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { hexOf, type Digest } from '@strata/common';
import { MediaType, type Descriptor, type Manifest, type Store } from '@strata/store';

/** Copies the image `manifest` (and its config and layers) into layout DIR, tagged `refName`. */
export async function exportOciLayout(store: Store, manifest: Descriptor, dir: string, refName = 'latest'): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const copy = async (d: Digest): Promise<void> => {
    const dest = path.join(blobs, hexOf(d));
    try {
      await fs.access(dest);
      return;
    } catch {
      // not there yet
    }
    const tmp = `${dest}.tmp`;
    await pipeline(store.content.reader(d), createWriteStream(tmp));
    await fs.rename(tmp, dest);
  };
  const m = JSON.parse((await store.content.readBlob(manifest.digest)).toString()) as Manifest;
  await copy(m.config.digest);
  for (const l of m.layers) await copy(l.digest);
  await copy(manifest.digest);
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}
