// Layer compression: none, gzip (zlib) and zstd (zstd-napi), all streaming.
// The media type says what a blob is; the magic bytes are checked too, so a
// mislabelled blob fails with a clear error instead of a tar checksum error.
import { CHUNK } from './chunk.ts';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { InvalidInput } from '@strata/common';
import { MediaType, type Compression } from './types.ts';

type Zstd = typeof import('zstd-napi');
let zstdModule: Zstd | undefined;
/** zstd-napi, loaded on first use: most commands (a no-change build) never touch zstd, and its addon costs start-up. */
function zstd(): Zstd {
  return (zstdModule ??= createRequire(import.meta.url)('zstd-napi') as Zstd);
}

/** The compression a layer media type implies. */
export function compressionOf(mediaType: string): Compression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.gzip') || mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') return 'gzip';
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType === 'application/x-tar') return 'none';
  throw new InvalidInput(`unsupported layer media type ${mediaType}`);
}

/** The OCI layer media type for a compression. */
export function layerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/** Compression recognised from a blob's first bytes. */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** A transform that decompresses `c`. */
export function decompressor(c: Compression): Transform {
  if (c === 'gzip') return zlib.createGunzip({ chunkSize: 256 << 10 });
  if (c === 'zstd') return new (zstd().DecompressStream)();
  return new PassThrough({ highWaterMark: CHUNK });
}

/** A transform that compresses with `c` (gzip level 6 like docker/podman; zstd level 3). */
export function compressor(c: Compression): Transform {
  if (c === 'gzip') return zlib.createGzip({ level: 6, chunkSize: 256 << 10 });
  if (c === 'zstd') return new (zstd().CompressStream)({ compressionLevel: 3 });
  return new PassThrough({ highWaterMark: CHUNK });
}
