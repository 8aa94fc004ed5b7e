// The content store: verified, atomic ingest; verified reads; two processes
// writing the same blob at once.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { DigestMismatch, InvalidInput, NotFound, run, sha256 } from '@strata/common';
import { openStore } from '../src/index.ts';
import { tmpDir } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

test('a blob is visible only after a verified commit', async (t) => {
  const store = await openStore(tmpDir(t));
  const data = Buffer.from('hello blob');
  const d = sha256(data);
  const w = await store.content.writer();
  w.write(data.subarray(0, 5));
  t.false(await store.content.has(d), 'not visible while being written');
  t.is(fs.readdirSync(path.join(store.root, 'ingest')).length, 1);
  w.write(data.subarray(5));
  const info = await w.commit(data.length, d);
  t.deepEqual(info, { digest: d, size: data.length });
  t.true(await store.content.has(d));
  t.deepEqual(await store.content.readBlob(d), data);
  t.deepEqual(fs.readdirSync(path.join(store.root, 'ingest')), [], 'ingest cleaned');
  t.deepEqual((await store.content.info(d)).size, data.length);
  const walked = [];
  for await (const b of store.content.walk()) walked.push(b.digest);
  t.deepEqual(walked, [d]);
});

test('a digest or size mismatch leaves nothing behind', async (t) => {
  const store = await openStore(tmpDir(t));
  const w = await store.content.writer();
  w.write('abc');
  await t.throwsAsync(w.commit(3, sha256('abd')), { instanceOf: DigestMismatch, message: /expected sha256:.*got sha256:/ });
  const w2 = await store.content.writer();
  w2.write('abc');
  await t.throwsAsync(w2.commit(4), { instanceOf: InvalidInput, message: /size mismatch: expected 4 bytes, got 3/ });
  t.deepEqual(fs.readdirSync(path.join(store.root, 'blobs', 'sha256')), []);
  t.deepEqual(fs.readdirSync(path.join(store.root, 'ingest')), []);
  const w3 = await store.content.writer();
  w3.write('zzz');
  await w3.abort();
  t.deepEqual(fs.readdirSync(path.join(store.root, 'ingest')), []);
});

test('readers verify: a corrupted blob errors with DigestMismatch', async (t) => {
  const store = await openStore(tmpDir(t));
  const desc = await store.content.writeBlob(Buffer.alloc(3 << 20, 1), 'application/octet-stream');
  fs.writeFileSync(store.content.blobPath(desc.digest), Buffer.alloc(3 << 20, 2));
  await t.throwsAsync(store.content.readBlob(desc.digest), { instanceOf: DigestMismatch });
  await t.throwsAsync(async () => { for await (const _ of store.content.reader(desc.digest)) { /* drain */ } }, { instanceOf: DigestMismatch });
  await t.throwsAsync(async () => { for await (const _ of store.content.reader(sha256('nope'))) { /* drain */ } }, { instanceOf: NotFound });
  await t.throwsAsync(store.content.info(sha256('nope')), { instanceOf: NotFound });
});

test('two processes writing the same blob at once both succeed and leave one correct blob', async (t) => {
  const root = tmpDir(t);
  await openStore(root);
  const size = 24 << 20;
  const h = createHash('sha256');
  const chunk = Buffer.alloc(64 << 10);
  for (let off = 0; off < size; off += chunk.length) h.update(chunk.fill(off / chunk.length % 251));
  const expected = `sha256:${h.digest('hex')}`;
  const child = () => run(process.execPath, ['--import', 'tsx', path.join(here, 'support', 'write-blob.ts'), root, String(size), expected]);
  const [a, b] = await Promise.all([child(), child()]);
  t.is(a.stdout, expected);
  t.is(b.stdout, expected);
  const store = await openStore(root);
  t.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), [expected.slice(7)]);
  t.deepEqual(fs.readdirSync(path.join(root, 'ingest')), []);
  t.is((await store.content.readBlob(expected as `sha256:${string}`)).length, size);
});

test('a writer killed mid-ingest leaves no blob; gc sweeps its ingest file', async (t) => {
  const root = tmpDir(t);
  const store = await openStore(root);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'support', 'write-blob.ts'), root, String(2 * 2 ** 30), sha256('x')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => { stderr += b; });
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(() => { child.kill('SIGKILL'); });
  const ingest = path.join(root, 'ingest');
  for (let i = 0; i < 600; i++) {
    const f = fs.readdirSync(ingest);
    if (f.length && fs.statSync(path.join(ingest, f[0]!)).size > (4 << 20)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(child.exitCode, null, `the writer was still writing: ${stderr}`);
  child.kill('SIGKILL');
  await exited;
  t.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), [], 'nothing visible');
  t.is(fs.readdirSync(ingest).length, 1, 'the partial ingest is all that is left');
  const { gc } = await import('../src/index.ts');
  const res = await gc(store);
  t.is(res.leftovers, 1);
  t.deepEqual(fs.readdirSync(ingest), []);
});
