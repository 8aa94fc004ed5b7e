// Bundles strata's process entry points (the CLI, the builder's mount worker,
// the overlay's FUSE server) to plain JS with esbuild, so a `strata` run does
// not pay tsx's per-module TypeScript loader (most of a no-change rebuild).
// The bins load a bundle only while it is fresh (packages/common/bin/
// fresh-bundle.js checks the inputs recorded on its first line) and fall back
// to tsx otherwise. Usage: node scripts/bundle.mjs   (setup.sh runs it)
// Also exported as bundle(entry) for fresh-bundle.js's rebuild-on-stale.
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** name → [source entry, bundle], relative to the repository root. */
export const ENTRIES = {
  cli: ['packages/cli/src/main.ts', 'packages/cli/dist/strata.mjs'],
  'mount-worker': ['packages/builder/src/mount-worker.ts', 'packages/builder/dist/mount-worker.mjs'],
  'overlay-server': ['packages/overlay/src/server.ts', 'packages/overlay/dist/overlay-server.mjs'],
};

export const MARK = '// strata-bundle ';

/** Packages kept out of the bundles: native addons (found relative to their own files). */
const OUTSIDE = new Set(['fuse-native', 'zstd-napi', 'esbuild']);

/**
 * esbuild plugin: workspace sources are bundled, each with import.meta.url
 * pinned to its source file's URL (their paths to bins, .node addons and
 * package.json stay right wherever the bundle lives); pure-JS dependencies
 * are bundled; the OUTSIDE packages are resolved now to an absolute file and
 * require()d only when the importing module first runs (so fuse-native and
 * zstd-napi load only for the commands that use them).
 */
function strataPlugin(externals) {
  return {
    name: 'strata',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.namespace === 'ext' || args.pluginData === 'inner' || args.path.startsWith('@strata/')) return undefined;
        // A builtin require()d by a bundled CommonJS dependency: through the
        // bundle's own require (ESM output has none). Imports stay imports.
        if (isBuiltin(args.path)) return args.kind === 'require-call' ? { path: args.path, namespace: 'ext' } : undefined;
        // Pure-JS dependencies are bundled too (no node_modules resolution at
        // start-up); native addons stay out.
        const pkg = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
        if (!OUTSIDE.has(pkg)) return undefined;
        const r = await build.resolve(args.path, { kind: 'require-call', resolveDir: args.resolveDir, pluginData: 'inner' });
        if (r.errors.length) return { errors: r.errors };
        externals.add(r.path);
        return { path: r.path, namespace: 'ext' };
      });
      build.onLoad({ filter: /.*/, namespace: 'ext' }, (args) => ({
        contents: `module.exports = __strataRequire(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        const src = await fs.promises.readFile(args.path, 'utf8');
        return { contents: src.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
      });
    },
  };
}

/** Writes `data` to `file` atomically (temp file, then rename). */
function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Builds one bundle; returns its path, or undefined when a source changed
 * while it was being built (it would be recorded as fresh with old code).
 * The code goes to content-named chunks under OUT-chunks/ (lazily imported
 * commands become their own chunks: `strata build` does not parse vega); OUT
 * itself is one small file, written last and atomically: the recorded inputs
 * on its first line, then a re-export of the entry chunk.
 */
export async function bundle(name) {
  const { build } = await import('esbuild');
  const [entry, out] = ENTRIES[name];
  const target = path.join(ROOT, out);
  const chunkDir = target.replace(/\.mjs$/, '-chunks');
  const externals = new Set();
  const started = Date.now();
  const res = await build({
    entryPoints: { main: path.join(ROOT, entry) },
    bundle: true,
    splitting: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    absWorkingDir: ROOT,
    outdir: chunkDir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module';\nconst __strataRequire = __strataCreateRequire(import.meta.url);" },
    plugins: [strataPlugin(externals)],
  });
  // The inputs whose change makes the bundle stale: every bundled source, the
  // directories holding them (a file added next to a globbed import), the
  // workspace package.json files, and the third-party files it require()s.
  const files = new Set();
  for (const p of Object.keys(res.metafile.inputs)) {
    if (p.startsWith('ext:')) continue; // the require() shims
    const abs = path.resolve(ROOT, p);
    // A dependency changes only with its package.json (a new version, or a
    // new patch hash in pnpm's directory name): one stat per package.
    const dep = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(abs);
    if (dep) {
      files.add(path.join(dep[1], 'package.json'));
      continue;
    }
    files.add(abs);
    files.add(path.dirname(abs));
  }
  for (const d of fs.readdirSync(path.join(ROOT, 'packages'))) {
    const pj = path.join(ROOT, 'packages', d, 'package.json');
    if (fs.existsSync(pj)) files.add(pj);
  }
  for (const e of externals) if (path.isAbsolute(e)) files.add(e); // the exact files require()d by path
  const inputs = [...files].sort().map((f) => {
    const st = fs.statSync(f);
    return [path.relative(ROOT, f), st.isDirectory() ? -1 : st.size, st.mtimeMs];
  });
  // Changed during the build (file times are coarse: a margin)? Then the
  // recorded times may not match the code read: record nothing.
  if (inputs.some(([, , mtimeMs]) => mtimeMs >= started - 100)) return undefined;
  fs.mkdirSync(chunkDir, { recursive: true });
  let main;
  for (const f of res.outputFiles) {
    if (!fs.existsSync(f.path)) writeAtomic(f.path, f.contents); // content-named: an existing one is the same
    if (path.basename(f.path).startsWith('main-')) main = f.path;
  }
  const rel = `./${path.relative(path.dirname(target), main)}`;
  writeAtomic(target, `${MARK}${JSON.stringify(inputs)}\nexport * from ${JSON.stringify(rel)};\n`);
  // Chunks of earlier bundles: gone once an hour old (a process started on
  // an earlier bundle may still import one of its lazily loaded chunks).
  const keep = new Set(res.outputFiles.map((f) => path.basename(f.path)));
  for (const n of fs.readdirSync(chunkDir)) {
    if (keep.has(n)) continue;
    const p = path.join(chunkDir, n);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { force: true });
    } catch {
      // removed by a concurrent bundler
    }
  }
  return target;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const name of Object.keys(ENTRIES)) {
    const out = await bundle(name);
    if (!out) throw new Error(`bundle: a source changed while bundling ${name}; run again`);
    console.log(`bundle: ${path.relative(ROOT, out)}`);
  }
}
