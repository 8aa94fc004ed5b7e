// Bundles strata's process entry points (the CLI, the builder's mount worker,
// the overlay's FUSE server) to plain JS with esbuild, so a `strata` run does
// not pay tsx's per-module TypeScript loader (most of a no-change rebuild).
// The bins load a bundle only while it is fresh (packages/common/bin/
// fresh-bundle.js checks the inputs recorded on its first line) and fall back
// to tsx otherwise. Usage: node scripts/bundle.mjs   (setup.sh runs it)
// Also exported as bundle(entry) for fresh-bundle.js's rebuild-on-stale.
import fs from 'node:fs';
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

/**
 * esbuild plugin: workspace sources are bundled, each with import.meta.url
 * pinned to its source file's URL (their paths to bins, .node addons and
 * package.json stay right wherever the bundle lives); every third-party
 * package stays outside, resolved now to an absolute file and require()d only
 * when the importing module first runs (so fuse-native, zstd-napi,
 * dockerfile-ast... load only for the commands that use them).
 */
function strataPlugin(externals) {
  return {
    name: 'strata',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.namespace === 'ext' || args.path.startsWith('node:') || args.path.startsWith('@strata/')) return undefined;
        if (args.pluginData === 'inner') return undefined;
        const r = await build.resolve(args.path, { kind: 'require-call', resolveDir: args.resolveDir, pluginData: 'inner' });
        if (r.errors.length) return { errors: r.errors };
        if (r.external || !path.isAbsolute(r.path)) return { path: args.path, external: true }; // node builtins
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

/** Builds one bundle (atomically: temp file, then rename); returns its path. */
export async function bundle(name) {
  const { build } = await import('esbuild');
  const [entry, out] = ENTRIES[name];
  const externals = new Set();
  const res = await build({
    entryPoints: [path.join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    absWorkingDir: ROOT,
    outfile: path.join(ROOT, out),
    banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module';\nconst __strataRequire = __strataCreateRequire(import.meta.url);" },
    plugins: [strataPlugin(externals)],
  });
  // The inputs whose change makes the bundle stale: every bundled source, the
  // directories holding them (a file added next to a globbed import), the
  // workspace package.json files, and the third-party files it require()s.
  const files = new Set();
  for (const p of Object.keys(res.metafile.inputs)) {
    if (p.startsWith('ext:')) continue;
    const abs = path.resolve(ROOT, p);
    files.add(abs);
    files.add(path.dirname(abs));
  }
  for (const d of fs.readdirSync(path.join(ROOT, 'packages'))) {
    const pj = path.join(ROOT, 'packages', d, 'package.json');
    if (fs.existsSync(pj)) files.add(pj);
  }
  for (const e of externals) files.add(e);
  const inputs = [...files].sort().map((f) => {
    const st = fs.statSync(f);
    return [path.relative(ROOT, f), st.isDirectory() ? -1 : st.size, st.mtimeMs];
  });
  const code = res.outputFiles[0].text;
  const target = path.join(ROOT, out);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, MARK + JSON.stringify(inputs) + '\n' + code);
  fs.renameSync(tmp, target);
  return target;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const name of Object.keys(ENTRIES)) {
    const out = await bundle(name);
    console.log(`bundle: ${path.relative(ROOT, out)} (${fs.statSync(out).size} bytes)`);
  }
}
