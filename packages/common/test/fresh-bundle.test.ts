// The bins' bundle freshness check: a bundle whose recorded inputs changed in
// any way (content, size, mtime, a file added to a source directory) is never run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
// @ts-expect-error plain JS module without type declarations
import { isFresh } from '../bin/fresh-bundle.js';

const fresh = isFresh as (file: string, root: string) => boolean;

function writeBundle(root: string, inputs: string[]): string {
  const rec = inputs.map((rel) => {
    const st = fs.statSync(path.join(root, rel));
    return [rel, st.isDirectory() ? -1 : st.size, st.mtimeMs];
  });
  const file = path.join(root, 'out.mjs');
  fs.writeFileSync(file, `// strata-bundle ${JSON.stringify(rec)}\nexport const x = 1;\n`);
  return file;
}

test('fresh until an input changes; every kind of change makes it stale', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fresh-bundle-'));
  try {
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'src/a.ts'), 'export const a = 1;\n');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(root, 'src/a.ts'), old, old);
    fs.utimesSync(path.join(root, 'src'), old, old);
    let b = writeBundle(root, ['src', 'src/a.ts']);
    t.true(fresh(b, root));

    // Same size, new content: the mtime moves, so stale.
    fs.writeFileSync(path.join(root, 'src/a.ts'), 'export const a = 2;\n');
    t.false(fresh(b, root));

    // An older mtime is a change too (a checkout of an older file).
    b = writeBundle(root, ['src', 'src/a.ts']);
    fs.utimesSync(path.join(root, 'src/a.ts'), old, old);
    t.false(fresh(b, root));

    // A file added next to the sources (a globbed import could pick it up).
    b = writeBundle(root, ['src', 'src/a.ts']);
    t.true(fresh(b, root));
    fs.writeFileSync(path.join(root, 'src/b.ts'), '');
    t.false(fresh(b, root));

    // A deleted input, a missing or unmarked bundle.
    b = writeBundle(root, ['src', 'src/a.ts', 'src/b.ts']);
    t.true(fresh(b, root));
    fs.rmSync(path.join(root, 'src/b.ts'));
    t.false(fresh(b, root));
    t.false(fresh(path.join(root, 'missing.mjs'), root));
    fs.writeFileSync(b, 'export const x = 1;\n');
    t.false(fresh(b, root));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
