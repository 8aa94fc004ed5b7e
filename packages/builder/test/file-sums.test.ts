// The remembered source-file hashes: content decides, unchanged files are not
// re-read, any change (even one hiding its mtime) is re-hashed, and a file
// changed just now is not remembered.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import test from 'ava';
import { FileSums } from '../src/file-sums.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

test('file sums: reused while unchanged, re-hashed on any change, recent files not remembered', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'file-sums-'));
  try {
    const f = path.join(root, 'a.txt');
    const old = new Date(Date.now() - 60_000);
    fs.writeFileSync(f, 'hello one\n');
    fs.utimesSync(f, old, old);
    // ctime is now: not remembered yet (racy), but hashed right.
    let sums = new FileSums(root);
    t.is(await sums.hash(f, fs.lstatSync(f)), sha('hello one\n'));
    sums.save();
    t.false(fs.existsSync(path.join(root, 'cache', 'file-sums.json')));

    // Once its last change is old enough it is remembered; a fresh instance reuses it without reading.
    const st = fs.lstatSync(f);
    const aged = { ...st, ctimeMs: st.ctimeMs - 60_000, mtimeMs: st.mtimeMs } as fs.Stats;
    sums = new FileSums(root);
    // Stamps come from the caller's stat: simulate an old change by an old ctime in the stat given.
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${aged.ctimeMs}`;
    fs.mkdirSync(path.join(root, 'cache'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cache', 'file-sums.json'), JSON.stringify({ [stamp]: 'f'.repeat(64) }));
    t.is(await sums.hash(f, aged), 'f'.repeat(64), 'a known stamp is not re-read');

    // Same size, content changed, mtime put back: ctime moved, so the real stat misses and re-hashes.
    fs.writeFileSync(f, 'hello two\n');
    fs.utimesSync(f, old, old);
    sums = new FileSums(root);
    t.is(await sums.hash(f, fs.lstatSync(f)), sha('hello two\n'));

    // A damaged file is an empty cache, not an error.
    fs.writeFileSync(path.join(root, 'cache', 'file-sums.json'), '{not json');
    sums = new FileSums(root);
    t.is(await sums.hash(f, fs.lstatSync(f)), sha('hello two\n'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
