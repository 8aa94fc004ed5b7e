import path from 'node:path';
import { UsageError } from '@strata/common';
import type { Compression } from '@strata/store';
import type { Isolation, MountDriver, ProgressMode } from '@strata/builder';
import { parseReference } from '@strata/registry';
import { bool, positionals, str, strs, type Command } from '../command.ts';
import { clientOptions, registryOptions, registryUsage } from '../registry-options.ts';
import { exportBuildCache, registryPuller, remoteCacheSource } from '../build-registry.ts';

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`strata build: --${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

export const buildCmd: Command = {
  name: 'build',
  summary: 'Build an image from a Dockerfile, each instruction cached as a layer',
  usage: [
    'Usage: strata build [OPTIONS] CONTEXT',
    '',
    'Options:',
    '  -t, --tag NAME[:TAG]         tag the result (repeatable)',
    '  -f, --file PATH              Dockerfile (default CONTEXT/Dockerfile)',
    '  --build-arg K=V              set a build argument (repeatable)',
    '  --target STAGE               build this stage and what it needs',
    '  --no-cache                   execute every step',
    '  --progress MODE              auto|plain|tty|json (default auto)',
    '  --layer-compression C        gzip|zstd|none (default gzip)',
    '  --isolation I                oci (runc, default) | chroot',
    '  --mount-driver D             fuse (strata FUSE overlay, default) | kernel (overlayfs)',
    '  --output type=oci,dest=DIR   also write the image as an OCI layout (ref "latest")',
    '  -q, --quiet                  print only the image digest',
    '  --cache-from REF             also look up steps in the build cache at HOST/REPO:TAG (repeatable)',
    '  --cache-to REF               push this build\'s cache records and layers to HOST/REPO:TAG',
    '',
    'FROM HOST[:PORT]/REPO[:TAG|@DIGEST] not in the store is pulled. Registry options:',
    ...registryUsage,
  ].join('\n'),
  options: {
    tag: { type: 'string', short: 't', multiple: true },
    file: { type: 'string', short: 'f' },
    'build-arg': { type: 'string', multiple: true },
    target: { type: 'string' },
    'no-cache': { type: 'boolean' },
    progress: { type: 'string' },
    'layer-compression': { type: 'string' },
    isolation: { type: 'string' },
    'mount-driver': { type: 'string' },
    output: { type: 'string', short: 'o' },
    quiet: { type: 'boolean', short: 'q' },
    'cache-from': { type: 'string', multiple: true },
    'cache-to': { type: 'string' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const [context] = positionals(buildCmd, args, 1);
    const buildArgs: Record<string, string> = {};
    for (const kv of strs(args, 'build-arg')) {
      const i = kv.indexOf('=');
      if (i <= 0) {
        // "--build-arg NAME" takes the value from the environment, as Docker does.
        const v = process.env[kv];
        if (i === 0 || v === undefined) continue;
        buildArgs[kv] = v;
      } else {
        buildArgs[kv.slice(0, i)] = kv.slice(i + 1);
      }
    }
    let outputDir: string | undefined;
    const output = str(args, 'output');
    if (output !== undefined) {
      const kv = Object.fromEntries(output.split(',').map((p) => p.split('=', 2) as [string, string]));
      if (kv.type !== 'oci' || !kv.dest) throw new UsageError('strata build: --output must be type=oci,dest=DIR');
      outputDir = path.resolve(kv.dest);
    }
    const quiet = bool(args, 'quiet');
    const cacheTo = str(args, 'cache-to');
    const cacheFrom = strs(args, 'cache-from');
    // Bad references fail before any work is done.
    for (const r of [...cacheFrom, ...(cacheTo ? [cacheTo] : [])]) parseReference(r);
    const registry = clientOptions(args);
    // Loaded here, not at the top: every `strata` command would pay for them otherwise.
    const { openStore } = await import('@strata/store');
    const { build, exportOciLayout } = await import('@strata/builder');
    const store = await openStore(ctx.root);
    const res = await build(store, {
      pullImage: registryPuller(store, registry, quiet || ctx.json ? null : ctx.stderr),
      cacheSource: cacheFrom.length ? await remoteCacheSource(store, cacheFrom, registry) : undefined,
      contextDir: path.resolve(context!),
      dockerfile: str(args, 'file') ? path.resolve(str(args, 'file')!) : undefined,
      tags: strs(args, 'tag'),
      buildArgs,
      target: str(args, 'target'),
      noCache: bool(args, 'no-cache'),
      progress: quiet ? 'quiet' : oneOf<ProgressMode>('progress', str(args, 'progress'), ['auto', 'plain', 'tty', 'json']),
      progressOut: ctx.stderr,
      compression: oneOf<Compression>('layer-compression', str(args, 'layer-compression'), ['gzip', 'zstd', 'none']),
      isolation: oneOf<Isolation>('isolation', str(args, 'isolation'), ['oci', 'chroot']),
      mountDriver: oneOf<MountDriver>('mount-driver', str(args, 'mount-driver'), ['fuse', 'kernel']),
    });
    if (outputDir) await exportOciLayout(store, res.manifest, outputDir);
    if (cacheTo) await exportBuildCache(store, cacheTo, res.records, registry);
    if (ctx.json) ctx.stdout.write(JSON.stringify({ digest: res.manifest.digest, executed: res.executed, cached: res.cached }) + '\n');
    else ctx.stdout.write(res.manifest.digest + '\n');
  },
};
