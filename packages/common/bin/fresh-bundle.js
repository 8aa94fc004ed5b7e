// Used by strata's bins: the esbuild bundle of an entry point (made by
// scripts/bundle.mjs) when it is up to date with every input recorded on its
// first line (same size and mtime, each one stat), rebuilt first when stale
// and esbuild is at hand; undefined when there is no usable bundle, and then
// the bin runs the TypeScript sources through tsx. A stale bundle never runs.
// STRATA_BUNDLE=0 always answers undefined (run the sources).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MARK = '// strata-bundle ';
const OUT = {
  cli: 'packages/cli/dist/strata.mjs',
  'mount-worker': 'packages/builder/dist/mount-worker.mjs',
  'overlay-server': 'packages/overlay/dist/overlay-server.mjs',
};

/** The first line of `file` (the recorded inputs), or undefined. */
function firstLine(file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    let text = '';
    const buf = Buffer.alloc(64 * 1024);
    for (let pos = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return undefined;
      const chunk = buf.toString('latin1', 0, n);
      const nl = chunk.indexOf('\n');
      if (nl >= 0) return text + chunk.slice(0, nl);
      text += chunk;
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether the bundle `file` records its inputs (paths relative to `root`) and every one still has the recorded size and mtime. */
export function isFresh(file, root = ROOT) {
  const line = firstLine(file);
  if (!line?.startsWith(MARK)) return false;
  let inputs;
  try {
    inputs = JSON.parse(line.slice(MARK.length));
  } catch {
    return false;
  }
  for (const [rel, size, mtimeMs] of inputs) {
    let st;
    try {
      st = fs.statSync(path.join(root, rel));
    } catch {
      return false;
    }
    if (st.mtimeMs !== mtimeMs || (st.isDirectory() ? -1 : st.size) !== size) return false;
  }
  return true;
}

/** The file URL of the fresh bundle for `name` ('cli', 'mount-worker', 'overlay-server'), or undefined. */
export async function freshBundle(name) {
  if (process.env.STRATA_BUNDLE === '0') return undefined;
  const file = path.join(ROOT, OUT[name]);
  if (isFresh(file)) return file;
  try {
    const { bundle } = await import(path.join(ROOT, 'scripts/bundle.mjs'));
    await bundle(name);
  } catch {
    return undefined; // no esbuild, or the sources do not bundle: run them through tsx
  }
  return isFresh(file) ? file : undefined;
}

/**
 * What every strata bin does: imports entry point `name` from its fresh
 * bundle, else `source` (the URL of its TypeScript entry) through tsx.
 */
export async function importEntry(name, source) {
  const bundled = await freshBundle(name);
  if (bundled) return import(bundled);
  const { register } = await import('tsx/esm/api');
  register();
  return import(source);
}
