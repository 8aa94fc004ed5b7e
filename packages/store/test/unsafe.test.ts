// Hostile and broken layers: each is refused with an InvalidInput naming the
// archive and the entry, and nothing is written outside the target.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidInput } from '@strata/common';
import { applyLayer } from '../src/apply.ts';
import { chunks, makeTar, tmpDir, type EntrySpec } from './helpers.ts';

async function refuse(t: import('ava').ExecutionContext, entries: EntrySpec[] | Buffer, match: RegExp): Promise<string> {
  const tmp = tmpDir(t);
  const dst = path.join(tmp, 'target');
  const tar = Buffer.isBuffer(entries) ? entries : makeTar(entries);
  const err = await t.throwsAsync(applyLayer(chunks(tar), dst, '/some/evil.tar'), { instanceOf: InvalidInput });
  t.regex(err!.message, /^\/some\/evil\.tar: /, 'names the archive');
  t.regex(err!.message, match);
  t.deepEqual(fs.readdirSync(tmp), ['target'], 'nothing written beside the target');
  return err!.message;
}

test('refuses ../ names', async (t) => {
  await refuse(t, [{ name: 'ok', data: '1' }, { name: '../escape', data: 'x' }], /entry "\.\.\/escape": '\.\.' component refused/);
  await refuse(t, [{ name: 'a/../../escape', data: 'x' }], /entry "a\/\.\.\/\.\.\/escape"/);
});

test('refuses absolute names', async (t) => {
  await refuse(t, [{ name: '/etc/passwd', data: 'x' }], /entry "\/etc\/passwd": absolute path refused/);
});

test('never writes through a symlink in the layer', async (t) => {
  const tmp = tmpDir(t);
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  await refuse(t, [
    { name: 'link', type: 'symlink', linkname: outside },
    { name: 'link/pwned', data: 'x' },
  ], /entry "link\/pwned": parent link is a symlink/);
  t.deepEqual(fs.readdirSync(outside), []);
});

test('refuses symlinks that climb out of the layer', async (t) => {
  await refuse(t, [{ name: 'a/b', type: 'symlink', linkname: '../../../etc/shadow' }], /entry "a\/b": symlink target "\.\.\/\.\.\/\.\.\/etc\/shadow" points out of the layer/);
});

test('refuses hard links that point out of the layer', async (t) => {
  await refuse(t, [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /entry "h": hard link target/);
  await refuse(t, [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /entry "h": hard link target "\/etc\/passwd" refused: absolute/);
  await refuse(t, [{ name: 'h', type: 'link', linkname: 'missing' }], /does not exist in the layer/);
});

test('refuses whiteouts of empty, . and .. names (they would hide the layer root)', async (t) => {
  for (const name of ['.wh.', 'd/.wh..', 'd/.wh...']) {
    await refuse(t, [{ name: 'd/', type: 'dir' }, { name }], /whiteout of an empty, \. or \.\. name refused/);
  }
});

test('truncated and corrupt archives name the entry', async (t) => {
  const good = makeTar([{ name: 'a', data: 'x'.repeat(5000) }, { name: 'b', data: 'y' }]);
  await refuse(t, good.subarray(0, 2000), /entry "a": truncated archive/);
  const bad = Buffer.from(good);
  bad[512 + 5120 + 10] ^= 0xff; // inside b's header
  await refuse(t, bad, /entry "after a": bad header checksum/);
  await refuse(t, Buffer.from('this is not a tar file at all'.repeat(40)), /bad header checksum/);
});
