// Layer apply/diff round trips on real files: metadata, whiteouts, opaque
// dirs, hard links, devices, xattrs, nanosecond mtimes; reproducible diffs;
// interop with GNU tar in both directions.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '@strata/common';
import { lgetxattr, lsetxattr, lutimesNs, mkWhiteout, mknod } from '@strata/native';
import { applyLayer } from '../src/apply.ts';
import { diffDir } from '../src/diff.ts';
import { readTar } from '../src/tar-read.ts';
import { chunks, snapshot, tmpDir } from './helpers.ts';

// VFS_CAP_REVISION_2 | effective, permitted = CAP_SETUID (bit 7 -> byte 0x80, not valid UTF-8 alone).
const CAP = Buffer.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, 'a'));
  fs.writeFileSync(path.join(root, 'a', 'f'), 'hello world\n');
  fs.chownSync(path.join(root, 'a', 'f'), 1234, 5678);
  fs.chmodSync(path.join(root, 'a', 'f'), 0o4755);
  lsetxattr(path.join(root, 'a', 'f'), 'security.capability', CAP, 0);
  lsetxattr(path.join(root, 'a', 'f'), 'user.note', Buffer.from([0xff, 0x00, 0x41]), 0);
  fs.linkSync(path.join(root, 'a', 'f'), path.join(root, 'a', 'h'));
  fs.symlinkSync('a/f', path.join(root, 'l'));
  fs.lchownSync(path.join(root, 'l'), 7, 8);
  fs.writeFileSync(path.join(root, 'big'), Buffer.alloc(3 << 20, 7));
  fs.writeFileSync(path.join(root, 'nü-ünicode name with a very long path component'.repeat(3)), 'x');
  mknod(path.join(root, 'null'), 0o020000 | 0o666, 1, 3);
  mknod(path.join(root, 'sda'), 0o060000 | 0o660, 8, 0);
  mknod(path.join(root, 'fifo'), 0o010000 | 0o644, 0, 0);
  mkWhiteout(path.join(root, 'gone'));
  fs.mkdirSync(path.join(root, 'o'));
  fs.writeFileSync(path.join(root, 'o', 'x'), 'x');
  lsetxattr(path.join(root, 'o'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  fs.mkdirSync(path.join(root, 'sticky'));
  fs.chmodSync(path.join(root, 'sticky'), 0o1777);
  fs.chownSync(path.join(root, 'a'), 1000, 1000);
  fs.chmodSync(path.join(root, 'a'), 0o750);
  lutimesNs(path.join(root, 'a', 'f'), 1, 0, 1_600_000_000, 123_456_789);
  lutimesNs(path.join(root, 'l'), 1, 0, 1_600_000_001, 987_654_321);
  lutimesNs(path.join(root, 'a'), 1, 0, 1_500_000_000, 5);
}

async function collect(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c);
  return Buffer.concat(out);
}

test('diff then apply round-trips every kind of entry and its metadata', async (t) => {
  const tmp = tmpDir(t);
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  makeTree(src);
  const tar = await collect(diffDir(src));

  const names: string[] = [];
  let capSeen: Buffer | undefined;
  for await (const e of readTar(chunks(tar), 'diff')) {
    names.push(`${e.header.type}:${e.header.name}${e.header.linkname ? `->${e.header.linkname}` : ''}`);
    if (e.header.name === 'a/f') capSeen = e.header.xattrs.get('security.capability');
    t.false([...e.header.xattrs.keys()].some((k) => k.startsWith('trusted.overlay.')), 'overlay xattrs are not emitted');
  }
  t.true(names.includes('file:.wh.gone'), 'whiteout device -> .wh. file');
  t.true(names.includes('file:o/.wh..wh..opq'), 'opaque dir -> .wh..wh..opq');
  t.true(names.includes('link:a/h->a/f'), 'second name of a hard link is a link entry');
  t.deepEqual(capSeen, CAP, 'binary xattr value survives in PAX');
  t.deepEqual(names.filter((n) => n.startsWith('dir:')), ['dir:a/', 'dir:o/', 'dir:sticky/']);

  const dst = path.join(tmp, 'dst');
  const res = await applyLayer(chunks(tar, 4096), dst, 'diff.tar');
  t.true(res.entries > 10);
  const a = snapshot(src);
  const b = snapshot(dst);
  t.deepEqual(b, a);
  t.is(fs.statSync(path.join(dst, 'a', 'f')).ino, fs.statSync(path.join(dst, 'a', 'h')).ino, 'hard link kept');
  const wh = fs.lstatSync(path.join(dst, 'gone'));
  t.true(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is char 0/0');
  t.is(lgetxattr(path.join(dst, 'o'), 'trusted.overlay.opaque')?.toString(), 'y');

  // Same tree, same bytes: the diffID is reproducible.
  const again = await collect(diffDir(dst));
  t.true(again.equals(tar), 'diff of the applied tree is byte-identical');
});

test('GNU tar reads strata diffs (xattrs, devices) and strata applies GNU tar pax archives', async (t) => {
  const tmp = tmpDir(t);
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  makeTree(src);
  fs.rmSync(path.join(src, 'gone'));
  lsetxattr(path.join(src, 'o'), 'trusted.overlay.opaque', Buffer.from('n'), 0);
  const tarFile = path.join(tmp, 'strata.tar');
  fs.writeFileSync(tarFile, await collect(diffDir(src)));
  const viaGnu = path.join(tmp, 'gnu-x');
  fs.mkdirSync(viaGnu);
  await run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarFile, '-C', viaGnu]);
  t.deepEqual(lgetxattr(path.join(viaGnu, 'a', 'f'), 'security.capability'), CAP);
  t.is(fs.lstatSync(path.join(viaGnu, 'a', 'f')).mtimeMs, fs.lstatSync(path.join(src, 'a', 'f')).mtimeMs);
  t.is(fs.statSync(path.join(viaGnu, 'null')).rdev, fs.statSync(path.join(src, 'null')).rdev);

  const gnuTar = path.join(tmp, 'gnu.tar');
  await run('tar', ['--xattrs', '--xattrs-include=*', '--format=pax', '--numeric-owner', '-cf', gnuTar, '-C', src, '.']);
  const dst = path.join(tmp, 'dst');
  await applyLayer(fs.createReadStream(gnuTar), dst, gnuTar);
  const a = snapshot(src);
  const b = snapshot(dst);
  delete a['o']!.xattrs['trusted.overlay.opaque'];
  t.deepEqual(b, a);
});

test('apply turns aufs whiteouts into overlay ones', async (t) => {
  const tmp = tmpDir(t);
  const { makeTar } = await import('./helpers.ts');
  const tar = makeTar([
    { name: 'd/', type: 'dir', mode: 0o755 },
    { name: 'd/.wh..wh..opq' },
    { name: 'd/keep', data: 'k' },
    { name: '.wh.etc' },
    { name: 'x/.wh.y' },
    { name: '.wh..wh.plnk', type: 'dir' },
  ]);
  const dst = path.join(tmp, 'dst');
  await applyLayer(chunks(tar), dst, 'w.tar');
  t.is(lgetxattr(path.join(dst, 'd'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.false(fs.existsSync(path.join(dst, 'd', '.wh..wh..opq')));
  for (const w of ['etc', 'x/y']) {
    const st = fs.lstatSync(path.join(dst, w));
    t.true(st.isCharacterDevice() && st.rdev === 0, `${w} is a whiteout`);
  }
  t.false(fs.existsSync(path.join(dst, '.wh..wh.plnk')));
  t.deepEqual(fs.readdirSync(dst).sort(), ['d', 'etc', 'x']);
});
