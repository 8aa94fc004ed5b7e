// @strata/store: the content-addressed OCI layer store. Contracts in types.ts.
export * from './types.ts';
export { openStore, FsStore, hostPlatform } from './store.ts';
export { FsContentStore, verifying } from './content.ts';
export { FsSnapshotter } from './snapshots.ts';
export { normalizeName, tryNormalizeName } from './refs.ts';
export { REF_NAME } from './layout.ts';
export { applyLayer } from './apply.ts';
export { diffDir } from './diff.ts';
export { compressor, decompressor, compressionOf, layerMediaType, sniffCompression } from './compression.ts';
export { readTar, type TarEntry } from './tar-read.ts';
export { cleanEntryName, symlinkStaysInside } from './safe-path.ts';
export { importArchive, type ImportResult } from './import.ts';
export { exportImage, type ExportFormat } from './export.ts';
export { gc, mark, type GcResult } from './gc.ts';
export { fsck, type FsckResult, type FsckProblem } from './fsck.ts';
