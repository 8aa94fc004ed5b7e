// `strata import`: an OCI image layout tar, a `docker save` tar (legacy or
// Docker 25+), or a plain root filesystem tar (one layer, like
// `docker import`), optionally compressed. Everything streams; blobs are
// verified against the digests the archive names. On any error the store is
// left as it was: blobs and snapshots this import created are removed and
// nothing is tagged (tags are written last).
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DigestMismatch, InvalidInput, StrataError, UsageError, chainIds, isErrno, type Digest,
} from '@strata/common';
import { readFileChunks, readTar } from './tar-read.ts';
import type { IngestWriter } from './content.ts';
import { BLOCK, decodeBlock, decodePax, padding } from './tar-header.ts';
import { decompressor, layerMediaType, sniffCompression } from './compression.ts';
import { applyHashed } from './layers.ts';
import { applyLayer } from './apply.ts';
import { parseIndex, REF_NAME } from './layout.ts';
import { normalizeName, tryNormalizeName } from './refs.ts';
import { hostPlatform, type FsStore } from './store.ts';
import { MediaType, type BlobWriter, type Compression, type Descriptor, type ImageConfig, type Manifest } from './types.ts';

export type ArchiveKind = 'oci' | 'docker' | 'rootfs';

export interface ImportResult {
  kind: ArchiveKind;
  images: Array<{ name: string; descriptor: Descriptor }>;
}

/** What this import created, to undo on failure. */
class Undo {
  /** Blobs present before the import: never removed by a rollback. */
  before = new Set<string>();
  blobs: Digest[] = [];
  snapshots: string[] = [];
  tmpDirs: string[] = [];
  async run(store: FsStore): Promise<void> {
    for (const d of this.blobs) await store.content.delete(d).catch(() => undefined);
    for (const s of [...this.snapshots, ...this.tmpDirs]) fs.rmSync(s, { recursive: true, force: true });
  }
}

async function commitTracked(undo: Undo, w: BlobWriter, size?: number, expected?: Digest) {
  const info = await w.commit(size, expected);
  if (!undo.before.has(info.digest) && !undo.blobs.includes(info.digest)) undo.blobs.push(info.digest);
  return info;
}

function firstBytes(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = fs.readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

const TOP_MARKERS = new Set(['oci-layout', 'manifest.json', 'index.json']);

/**
 * True for an entry no image archive (OCI layout, docker save) has: a
 * nested path outside blobs/ and the <hex>/ layer dirs, like bin/sh. Seeing
 * one settles that the tar is a root filesystem without reading further.
 */
function rootfsOnlyName(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash === -1 || slash === name.length - 1) return false;
  const first = name.slice(0, slash);
  return first !== 'blobs' && !/^[0-9a-f]{64}$/.test(first);
}

function topName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

/** Reads only the headers of an uncompressed tar file (seeking over data) to classify it. */
function scanKindSeekable(file: string): ArchiveKind {
  const fd = fs.openSync(file, 'r');
  try {
    const names = new Set<string>();
    const block = Buffer.alloc(BLOCK);
    let off = 0;
    let pax: Map<string, Buffer> | null = null;
    for (let i = 0; i < 1_000_000; i++) {
      if (fs.readSync(fd, block, 0, BLOCK, off) < BLOCK) break;
      let raw;
      try {
        raw = decodeBlock(block);
      } catch {
        break; // not a tar (or corrupt): let the real read report it with the entry
      }
      if (raw === null) break;
      off += BLOCK;
      if (raw.flag === 'x' && raw.size < 1 << 20) {
        const b = Buffer.alloc(raw.size);
        fs.readSync(fd, b, 0, raw.size, off);
        try { pax = decodePax(b); } catch { pax = null; }
      } else if (raw.flag !== 'g' && raw.flag !== 'L' && raw.flag !== 'K') {
        const name = topName(pax?.get('path')?.toString() ?? raw.name);
        pax = null;
        if (TOP_MARKERS.has(name)) names.add(name);
        if (rootfsOnlyName(name)) return 'rootfs';
        const sizeField = raw.flag === '0' || raw.flag === '\0' || raw.flag === '7' ? raw.size : 0;
        off += sizeField + padding(sizeField);
        continue;
      }
      off += raw.size + padding(raw.size);
    }
    return kindOf(names);
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(names: Set<string>): ArchiveKind {
  if (names.has('manifest.json')) return 'docker';
  if (names.has('oci-layout') && names.has('index.json')) return 'oci';
  return 'rootfs';
}

async function scanKindStream(file: string, c: Compression): Promise<ArchiveKind> {
  const names = new Set<string>();
  const src = fs.createReadStream(file, { highWaterMark: CHUNK });
  const dec = decompressor(c);
  const done = pipeline(src, dec);
  done.catch(() => undefined);
  try {
    for await (const e of readTar(dec, file)) {
      const n = topName(e.header.name);
      if (TOP_MARKERS.has(n)) names.add(n);
      if (rootfsOnlyName(n)) { names.clear(); break; }
    }
  } catch {
    src.destroy();
    dec.destroy();
    return 'rootfs'; // the real read reports the error with the entry
  }
  src.destroy();
  dec.destroy();
  return kindOf(names);
}

/** Tees `src` into the blob writer `w` (with backpressure) while passing it on. */
async function* teeInto(src: AsyncIterable<Buffer>, w: BlobWriter): AsyncGenerator<Buffer> {
  for await (const c of src) {
    if (!w.write(c)) await new Promise<void>((r) => w.once('drain', r));
    yield c;
  }
}

/** Appends `src` to the blob synchronously while passing it on (for reused buffers). */
async function* appendInto(src: AsyncIterable<Buffer>, w: IngestWriter): AsyncGenerator<Buffer> {
  for await (const c of src) {
    w.appendSync(c);
    yield c;
  }
}

function defaultName(file: string): string {
  const base = path.basename(file).replace(/\.(tar|tgz|tzst)(\.(gz|zst|zstd))?$/, '').replace(/\.(gz|zst)$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'imported';
  return normalizeName(base);
}

/**
 * The image name for an index entry's ref.name. The OCI spec's usual value
 * is a bare tag ("v1", what `skopeo copy ... oci-archive:F:v1` writes): that
 * becomes a tag of the name derived from the file. A name with a '/' or ':'
 * (what strata, buildah and containerd write) is a full reference.
 */
function nameFromRefName(refName: string, file: string): string | null {
  if (!refName.includes('/') && !refName.includes(':') && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(refName)) {
    const base = defaultName(file);
    return `${base.slice(0, base.lastIndexOf(':'))}:${refName}`;
  }
  return tryNormalizeName(refName);
}

async function importRootfs(store: FsStore, file: string, name: string, compression: Compression, undo: Undo): Promise<ImportResult> {
  const w = await store.content.writer();
  const tmp = store.snapshots.tempDir();
  undo.tmpDirs.push(tmp);
  let src: fs.ReadStream | null = null;
  let res;
  try {
    if (compression === 'none') {
      // The blob is the uncompressed layer: the writer's hash is the diffID,
      // so the bytes are hashed once, not twice; and the file is read into
      // reused buffers, written to the blob synchronously.
      const raw = appendInto(readFileChunks(file), w);
      res = { ...(await applyLayer(raw, tmp, file)), diffId: null };
      for await (const _ of raw) { /* the whole file is the blob */ }
    } else {
      src = fs.createReadStream(file, { highWaterMark: CHUNK });
      const raw = teeInto(src, w);
      const dec = decompressor(compression);
      const done = pipeline(Readable.from(raw), dec);
      done.catch(() => undefined);
      res = await applyHashed(dec, tmp, file);
      await done;
      for await (const _ of raw) { /* the whole file is the blob */ }
    }
  } catch (err) {
    src?.destroy();
    await w.abort();
    throw err;
  }
  const size = fs.statSync(file).size;
  const info = await commitTracked(undo, w, size);
  const diffId = res.diffId ?? info.digest;
  const snap = store.snapshots.dir(diffId);
  if (!(await store.snapshots.exists(diffId))) {
    await store.snapshots.install(tmp, diffId);
    undo.snapshots.push(snap);
  } else fs.rmSync(tmp, { recursive: true, force: true });
  const created = new Date().toISOString();
  const config: ImageConfig = {
    created,
    ...hostPlatform(),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: `strata import ${path.basename(file)}`, comment: 'imported from a root filesystem tar' }],
  };
  const layer: Descriptor = { mediaType: layerMediaType(compression), digest: info.digest, size: info.size };
  const manifest = await store.putImage(config, [layer]);
  await store.tag(name, manifest);
  return { kind: 'rootfs', images: [{ name, descriptor: manifest }] };
}

interface ArchiveBlobs {
  /** Entry name -> stored blob. */
  byEntry: Map<string, { digest: Digest; size: number }>;
  /** Small top-level JSON files, kept in memory. */
  meta: Map<string, Buffer>;
  /** Symlink entries (docker save links shared layers): name -> resolved target. */
  links: Map<string, string>;
}

/** Streams an image archive, storing every file as a verified blob. */
async function ingestArchive(store: FsStore, file: string, compression: Compression, undo: Undo): Promise<ArchiveBlobs> {
  const out: ArchiveBlobs = { byEntry: new Map(), meta: new Map(), links: new Map() };
  // Uncompressed archives are read into reused buffers (see readFileChunks):
  // every chunk is consumed (copied or written synchronously) before the next.
  const src = compression === 'none' ? null : fs.createReadStream(file, { highWaterMark: CHUNK });
  const dec = src ? decompressor(compression) : null;
  const done = src && dec ? pipeline(src, dec) : Promise.resolve();
  done.catch(() => undefined);
  try {
    for await (const e of readTar(dec ?? readFileChunks(file), file)) {
      const name = topName(e.header.name);
      if (e.header.type === 'symlink') {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(name), e.header.linkname));
        out.links.set(name, target);
        continue;
      }
      if (e.header.type === 'link') {
        out.links.set(name, topName(e.header.linkname));
        continue;
      }
      if (e.header.type !== 'file') continue;
      if (name === 'index.json' || name === 'oci-layout' || name === 'manifest.json' || name === 'repositories') {
        if (e.header.size > 16 << 20) throw new InvalidInput(`${file}: entry ${JSON.stringify(name)}: too large`);
        const parts: Buffer[] = [];
        for await (const c of e.body()) parts.push(Buffer.from(c));
        out.meta.set(name, Buffer.concat(parts));
        continue;
      }
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      const expected = m ? (`sha256:${m[1]}` as Digest) : undefined;
      const w = await store.content.writer();
      try {
        for await (const c of e.body()) w.appendSync(c);
        const info = await commitTracked(undo, w, e.header.size, expected);
        out.byEntry.set(name, info);
      } catch (err) {
        await w.abort();
        if (err instanceof DigestMismatch) throw new InvalidInput(`${file}: entry ${JSON.stringify(e.header.name)}: ${err.message}`);
        throw err;
      }
    }
    await done;
  } catch (err) {
    src?.destroy();
    dec?.destroy();
    throw err;
  }
  return out;
}

function jsonOf<T>(buf: Buffer | undefined, what: string): T {
  if (!buf) throw new InvalidInput(`${what}: missing`);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (err) {
    throw new InvalidInput(`${what}: not valid JSON: ${(err as Error).message}`);
  }
}

/** Checks that an image's manifest, config and layers are all present, then unpacks its snapshots. */
async function checkAndUnpack(store: FsStore, file: string, desc: Descriptor, undo: Undo): Promise<void> {
  const before = new Set<string>();
  for await (const s of store.snapshots.walk()) before.add(s.chainId);
  const resolved = await store.resolveDescriptor(desc).catch((err: unknown) => {
    if (err instanceof StrataError) throw new InvalidInput(`${file}: ${err.message}`);
    throw err;
  });
  for (const l of resolved.manifest.layers) {
    if (!(await store.content.has(l.digest))) throw new InvalidInput(`${file}: layer ${l.digest} named by manifest ${resolved.manifestDescriptor.digest} is not in the archive`);
  }
  try {
    await store.layerDirs(resolved);
  } catch (err) {
    if (err instanceof InvalidInput && !err.message.startsWith(file)) throw new InvalidInput(`${file}: ${err.message}`, { cause: err });
    throw err;
  } finally {
    for (const c of chainIds(resolved.config.rootfs.diff_ids)) {
      if (!before.has(c) && (await store.snapshots.exists(c))) undo.snapshots.push(store.snapshots.dir(c));
    }
  }
}

async function importOci(store: FsStore, file: string, name: string | null, blobs: ArchiveBlobs, undo: Undo): Promise<ImportResult> {
  const indexText = blobs.meta.get('index.json');
  const idx = parseIndex(indexText?.toString('utf8') ?? '', `${file}: index.json`);
  if (idx.manifests.length === 0) throw new InvalidInput(`${file}: index.json lists no images`);
  if (name && idx.manifests.length > 1) {
    throw new UsageError(`${file} holds ${idx.manifests.length} images; import it without NAME to keep their own names`);
  }
  const images: ImportResult['images'] = [];
  for (const m of idx.manifests) {
    if (!(await store.content.has(m.digest))) throw new InvalidInput(`${file}: index.json names ${m.digest}, which is not in the archive`);
    await checkAndUnpack(store, file, m, undo);
    const own = m.annotations?.['io.containerd.image.name'] ?? m.annotations?.[REF_NAME];
    const n = name ?? (own ? nameFromRefName(own, file) : null) ?? defaultName(file);
    images.push({ name: n, descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size, ...(m.platform ? { platform: m.platform } : {}) } });
  }
  return { kind: 'oci', images };
}

interface DockerManifestEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

async function importDocker(store: FsStore, file: string, name: string | null, blobs: ArchiveBlobs, undo: Undo): Promise<ImportResult> {
  const list = jsonOf<DockerManifestEntry[]>(blobs.meta.get('manifest.json'), `${file}: manifest.json`);
  if (!Array.isArray(list) || list.length === 0) throw new InvalidInput(`${file}: manifest.json lists no images`);
  if (name && list.length > 1) throw new UsageError(`${file} holds ${list.length} images; import it without NAME to keep their own names`);
  const entry = (n: string, what: string) => {
    let key = topName(n);
    for (let i = 0; i < 8 && blobs.links.has(key); i++) key = blobs.links.get(key)!;
    const b = blobs.byEntry.get(key);
    if (!b) throw new InvalidInput(`${file}: manifest.json names ${what} ${JSON.stringify(n)}, which is not in the archive`);
    return b;
  };
  const images: ImportResult['images'] = [];
  for (const [i, im] of list.entries()) {
    if (typeof im?.Config !== 'string' || !Array.isArray(im.Layers)) throw new InvalidInput(`${file}: manifest.json[${i}] has no Config/Layers`);
    const cfg = entry(im.Config, 'config');
    const layers: Descriptor[] = im.Layers.map((l) => {
      const b = entry(l, 'layer');
      const c = sniffCompression(firstBytes(store.content.blobPath(b.digest), 4));
      return { mediaType: layerMediaType(c), digest: b.digest, size: b.size };
    });
    const manifest: Manifest = {
      schemaVersion: 2, mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: cfg.digest, size: cfg.size }, layers,
    };
    const w = await store.content.writer();
    w.write(Buffer.from(JSON.stringify(manifest)));
    const info = await commitTracked(undo, w);
    const desc: Descriptor = { mediaType: MediaType.ociManifest, digest: info.digest, size: info.size };
    await checkAndUnpack(store, file, desc, undo);
    const tags = (im.RepoTags ?? []).map((t) => tryNormalizeName(t)).filter((t): t is string => t !== null);
    if (name) images.push({ name, descriptor: desc });
    else if (tags.length) for (const t of tags) images.push({ name: t, descriptor: desc });
    else images.push({ name: defaultName(file), descriptor: desc });
  }
  return { kind: 'docker', images };
}

/**
 * Imports `file` into `store`, tagging the image(s) `name` (normalised) or
 * the names the archive carries (or one derived from the file name).
 */
export async function importArchive(store: FsStore, file: string, name?: string): Promise<ImportResult> {
  const full = name ? normalizeName(name) : null;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new InvalidInput(`${file}: no such file`);
    throw err;
  }
  if (!st.isFile()) throw new InvalidInput(`${file}: not a regular file`);
  const compression = sniffCompression(firstBytes(file, 4));
  const kind = compression === 'none' ? scanKindSeekable(file) : await scanKindStream(file, compression);
  const undo = new Undo();
  // Blobs present before this import must survive a rollback.
  for await (const b of store.content.walk()) undo.before.add(b.digest);
  try {
    if (kind === 'rootfs') return await importRootfs(store, file, full ?? defaultName(file), compression, undo);
    const blobs = await ingestArchive(store, file, compression, undo);
    const res = kind === 'oci' ? await importOci(store, file, full, blobs, undo) : await importDocker(store, file, full, blobs, undo);
    // Blobs of the archive no image uses (e.g. other platforms) stay until gc.
    for (const im of res.images) await store.tag(im.name, im.descriptor);
    // Archive files no imported image uses (docker save's per-layer json and
    // VERSION files, other platforms' blobs) are not kept.
    const used = new Set<string>();
    for (const im of res.images) {
      used.add(im.descriptor.digest);
      const r = await store.resolveDescriptor(im.descriptor);
      used.add(r.manifestDescriptor.digest);
      used.add(r.configDescriptor.digest);
      for (const l of r.manifest.layers) used.add(l.digest);
    }
    for (const d of undo.blobs) if (!used.has(d)) await store.content.delete(d).catch(() => undefined);
    return res;
  } catch (err) {
    await undo.run(store);
    throw err;
  }
}
