// The Store: content store + snapshotter + the OCI layout's index.json,
// composed into what the builder, the registry client and the CLI use.
// See types.ts for the contract and the lifecycle of an image.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  InvalidInput, NotFound, StrataError, UsageError, chainIds, isDigest, isErrno, sha256, type Digest,
} from '@strata/common';
import { FsContentStore } from './content.ts';
import { FsSnapshotter } from './snapshots.ts';
import { Layout, REF_NAME, atomicWrite, initLayout } from './layout.ts';
import { normalizeName, tryNormalizeName } from './refs.ts';
import { storeDiff, unpackLayer } from './layers.ts';
import { applyLayer } from './apply.ts';
import { decompressor } from './compression.ts';
import {
  MediaType, type Compression, type Descriptor, type ImageConfig, type ImageIndex, type Manifest,
  type ResolvedImage, type Store,
} from './types.ts';

const ROOT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** The platform strata runs images for, in OCI terms. */
export function hostPlatform(): { architecture: string; os: string } {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return { architecture: arch, os: 'linux' };
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new InvalidInput(`${what}: not valid JSON: ${(err as Error).message}`);
  }
}

export class FsStore implements Store {
  readonly content: FsContentStore;
  readonly snapshots: FsSnapshotter;
  readonly layout: Layout;

  constructor(readonly root: string) {
    this.content = new FsContentStore(root);
    this.snapshots = new FsSnapshotter(root);
    this.layout = new Layout(root);
  }

  /** A fresh temp dir under <root>/tmp (same filesystem as everything else). */
  async tempDir(prefix: string): Promise<string> {
    return fsp.mkdtemp(path.join(this.root, 'tmp', `${process.pid}-${prefix}-`));
  }

  async readManifest(digest: Digest): Promise<Manifest> {
    const m = parseJson<Manifest>(await this.content.readBlob(digest), `manifest ${digest}`);
    if (m.schemaVersion !== 2 || typeof m.config !== 'object' || !Array.isArray(m.layers)) {
      throw new InvalidInput(`manifest ${digest}: not an image manifest`);
    }
    return m;
  }

  async readConfig(digest: Digest): Promise<ImageConfig> {
    const c = parseJson<ImageConfig>(await this.content.readBlob(digest), `config ${digest}`);
    if (!c.rootfs || !Array.isArray(c.rootfs.diff_ids)) throw new InvalidInput(`config ${digest}: no rootfs.diff_ids`);
    return c;
  }

  /** Picks the manifest for this platform out of an index (or the first one). */
  private async pickFromIndex(desc: Descriptor, depth = 0): Promise<Descriptor> {
    if (desc.mediaType !== MediaType.ociIndex && desc.mediaType !== MediaType.dockerManifestList) return desc;
    if (depth > 4) throw new InvalidInput(`index ${desc.digest}: nested too deeply`);
    const idx = parseJson<ImageIndex>(await this.content.readBlob(desc.digest), `index ${desc.digest}`);
    const host = hostPlatform();
    const cands = idx.manifests.filter((m) => m.mediaType !== MediaType.ociIndex || depth < 4);
    const match = cands.find((m) => m.platform?.architecture === host.architecture && m.platform?.os === host.os) ??
      cands.find((m) => !m.platform) ?? cands[0];
    if (!match) throw new InvalidInput(`index ${desc.digest}: no manifests`);
    return this.pickFromIndex(match, depth + 1);
  }

  private async findDescriptor(ref: string): Promise<{ name: string; desc: Descriptor }> {
    const idx = await this.layout.read();
    const byName = (n: string) => idx.manifests.find((m) => m.annotations?.[REF_NAME] === n);
    // Exact first (names other tools wrote, e.g. a bare "v1"), then the normal form.
    const exact = byName(ref);
    if (exact) return { name: ref, desc: exact };
    const at = ref.indexOf('@');
    if (at !== -1) {
      const d = ref.slice(at + 1);
      if (!isDigest(d)) throw new UsageError(`invalid image reference ${JSON.stringify(ref)}: bad digest`);
      return { name: ref, desc: await this.descriptorOfDigest(d, idx) };
    }
    const norm = tryNormalizeName(ref);
    if (norm) {
      const hit = byName(norm);
      if (hit) return { name: norm, desc: hit };
    }
    if (isDigest(ref)) return { name: ref, desc: await this.descriptorOfDigest(ref, idx) };
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (/^[0-9a-f]{6,64}$/.test(hex)) {
      const hits = new Map(idx.manifests.filter((m) => m.digest.slice(7).startsWith(hex)).map((m) => [m.digest, m]));
      if (hits.size > 1) throw new UsageError(`digest prefix ${ref} is ambiguous in ${this.root}`);
      const only = [...hits.values()][0];
      if (only) return { name: only.digest, desc: only };
    }
    throw new NotFound(`image ${ref} not found in ${this.root}${norm && norm !== ref ? ` (looked for ${norm})` : ''}`);
  }

  private async descriptorOfDigest(d: Digest, idx: ImageIndex): Promise<Descriptor> {
    const inIndex = idx.manifests.find((m) => m.digest === d);
    if (inIndex) return inIndex;
    if (!(await this.content.has(d))) throw new NotFound(`image ${d} not found in ${this.root}`);
    const data = await this.content.readBlob(d);
    const j = parseJson<{ mediaType?: string; manifests?: unknown }>(data, `blob ${d}`);
    const mediaType = j.mediaType ?? (j.manifests ? MediaType.ociIndex : MediaType.ociManifest);
    return { mediaType, digest: d, size: data.length };
  }

  async resolve(ref: string): Promise<ResolvedImage> {
    const { name, desc } = await this.findDescriptor(ref);
    return { ...(await this.resolveDescriptor(desc)), ref: name };
  }

  /** Loads the image a manifest (or index) descriptor points at; ref is its digest. */
  async resolveDescriptor(desc: Descriptor): Promise<ResolvedImage> {
    const manifestDescriptor = await this.pickFromIndex(desc);
    const manifest = await this.readManifest(manifestDescriptor.digest);
    const config = await this.readConfig(manifest.config.digest);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new InvalidInput(`manifest ${manifestDescriptor.digest}: config has ${config.rootfs.diff_ids.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
    }
    return { ref: desc.digest, manifestDescriptor, manifest, config, configDescriptor: manifest.config };
  }

  async tag(name: string, manifest: Descriptor): Promise<void> {
    const full = normalizeName(name);
    if (!(await this.content.has(manifest.digest))) throw new NotFound(`manifest ${manifest.digest} not found in ${this.root}`);
    await this.layout.update((idx) => {
      idx.manifests = idx.manifests.filter((m) => m.annotations?.[REF_NAME] !== full);
      const d: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
      if (manifest.platform) d.platform = manifest.platform;
      const ann = { ...(manifest.annotations ?? {}) };
      delete ann[REF_NAME];
      d.annotations = { ...ann, [REF_NAME]: full };
      idx.manifests.push(d);
    });
  }

  async untag(name: string): Promise<void> {
    await this.layout.update((idx) => {
      const norm = tryNormalizeName(name);
      const keep = idx.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
      const keep2 = keep.length !== idx.manifests.length || !norm ? keep : keep.filter((m) => m.annotations?.[REF_NAME] !== norm);
      if (keep2.length === idx.manifests.length) throw new NotFound(`image ${name} not found in ${this.root}`);
      idx.manifests = keep2;
    });
  }

  async images(): Promise<Array<{ name: string; descriptor: Descriptor }>> {
    const idx = await this.layout.read();
    return idx.manifests
      .filter((m) => typeof m.annotations?.[REF_NAME] === 'string')
      .map((m) => ({ name: m.annotations![REF_NAME]!, descriptor: m }));
  }

  async layerDirs(image: Pick<ResolvedImage, 'manifest' | 'config'>): Promise<string[]> {
    const diffIds = image.config.rootfs.diff_ids;
    if (diffIds.length !== image.manifest.layers.length) {
      throw new InvalidInput(`image has ${diffIds.length} diff_ids but ${image.manifest.layers.length} layers`);
    }
    const chains = chainIds(diffIds);
    const dirs: string[] = [];
    for (let i = 0; i < chains.length; i++) {
      dirs.push(await unpackLayer(this.content, this.snapshots, image.manifest.layers[i]!, diffIds[i]!, chains[i]!));
    }
    return dirs.reverse();
  }

  async commitLayer(upperDir: string, parentChainId: Digest | null, opts: { compression: Compression }):
    Promise<{ descriptor: Descriptor; diffId: Digest; chainId: Digest }> {
    const { descriptor, diffId } = await storeDiff(this.content, upperDir, opts.compression);
    const chainId: Digest = parentChainId ? sha256(`${parentChainId} ${diffId}`) : diffId;
    if (await this.snapshots.exists(chainId)) {
      await fsp.rm(upperDir, { recursive: true, force: true });
      return { descriptor, diffId, chainId };
    }
    try {
      await this.snapshots.install(upperDir, chainId);
    } catch (err) {
      if (!isErrno(err, 'EXDEV')) throw err;
      // An upper dir on another filesystem: unpack the layer we just stored
      // instead (same result, a copy), then drop the upper dir.
      const tmp = this.snapshots.tempDir();
      try {
        await applyLayer(this.content.reader(descriptor.digest).pipe(decompressor(opts.compression)), tmp, `layer ${descriptor.digest}`);
        await this.snapshots.install(tmp, chainId);
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
      await fsp.rm(upperDir, { recursive: true, force: true });
    }
    return { descriptor, diffId, chainId };
  }

  async putImage(config: ImageConfig, layers: Descriptor[], annotations?: Record<string, string>): Promise<Descriptor> {
    if (config.rootfs.diff_ids.length !== layers.length) {
      throw new InvalidInput(`putImage: ${config.rootfs.diff_ids.length} diff_ids for ${layers.length} layers`);
    }
    const configDesc = await this.content.writeBlob(JSON.stringify(config), MediaType.ociConfig);
    const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers };
    if (annotations && Object.keys(annotations).length) manifest.annotations = annotations;
    return this.content.writeBlob(JSON.stringify(manifest), MediaType.ociManifest);
  }

  private rootPath(name: string): string {
    if (!ROOT_NAME_RE.test(name)) throw new UsageError(`invalid gc root name ${JSON.stringify(name)}`);
    return path.join(this.root, 'gcroots', `${name}.json`);
  }

  async setRoot(name: string, refs: { blobs: Digest[]; chainIds: Digest[] }): Promise<void> {
    for (const d of [...refs.blobs, ...refs.chainIds]) if (!isDigest(d)) throw new UsageError(`gc root ${name}: not a digest: ${d}`);
    atomicWrite(this.rootPath(name), JSON.stringify({ blobs: refs.blobs, chainIds: refs.chainIds }));
  }

  async removeRoot(name: string): Promise<void> {
    try {
      await fsp.unlink(this.rootPath(name));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFound(`gc root ${name} not found in ${this.root}`);
      throw err;
    }
  }

  /** Every gc root: name -> what it keeps. A root file that is not valid JSON is an InvalidInput naming it. */
  async roots(): Promise<Map<string, { blobs: Digest[]; chainIds: Digest[] }>> {
    const dir = path.join(this.root, 'gcroots');
    const out = new Map<string, { blobs: Digest[]; chainIds: Digest[] }>();
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return out;
      throw err;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      const j = parseJson<{ blobs?: unknown; chainIds?: unknown }>(await fsp.readFile(file), file);
      const list = (v: unknown) => (Array.isArray(v) ? v.filter(isDigest) : []);
      out.set(n.slice(0, -5), { blobs: list(j.blobs), chainIds: list(j.chainIds) });
    }
    return out;
  }
}

/**
 * Opens (creating if needed) the store at `root`: the OCI layout files and
 * the blobs/, ingest/, snapshots/, active/, gcroots/, quarantine/, tmp/ dirs.
 */
export async function openStore(root: string): Promise<FsStore> {
  const abs = path.resolve(root);
  try {
    fs.mkdirSync(abs, { recursive: true });
    initLayout(abs);
  } catch (err) {
    throw new StrataError(`cannot open store ${abs}: ${(err as Error).message}`, { cause: err });
  }
  return new FsStore(abs);
}
