// -o option strings as mount -t overlay and fuse-overlayfs take them.
import test from 'ava';
import { formatMountOptions, parseMountOptions, splitEscaped } from '../src/options.ts';

test('lowerdir lists layers leftmost on top; \\: escapes a colon', (t) => {
  const o = parseMountOptions(['lowerdir=/a:/b\\:c:/d,upperdir=/u,workdir=/w']);
  t.deepEqual(o.lowerDirs, ['/a', '/b:c', '/d']);
  t.is(o.upperDir, '/u');
  t.is(o.workDir, '/w');
});

test('lowerdir alone is a read-only stack; common mount options are understood', (t) => {
  const o = parseMountOptions(['lowerdir=/a', 'ro,allow_other,default_permissions,dev,suid,noatime,rw,exec']);
  t.deepEqual(o.lowerDirs, ['/a']);
  t.is(o.upperDir, undefined);
  t.true(o.allowOther);
  t.true(o.defaultPermissions);
  t.true(o.dev && o.suid && o.noatime);
  t.false(o.readOnly); // rw came after ro
  t.like(parseMountOptions(['lowerdir=/a,nodev,nosuid']), { dev: false, suid: false });
  t.like(parseMountOptions(['lowerdir=/a,redirect_dir=off']), { redirectDir: false });
  t.like(parseMountOptions(['lowerdir=/a,timeout=5']), { attrTimeout: 5, entryTimeout: 5 });
  t.like(parseMountOptions(['lowerdir=/a,attr_timeout=2']), { attrTimeout: 2, entryTimeout: undefined });
  t.throws(() => parseMountOptions(['lowerdir=/a,timeout=soon']), { message: /timeout=soon/ });
  t.throws(() => parseMountOptions(['lowerdir=/a,redirect_dir=maybe']), { message: /redirect_dir=maybe/ });
  t.like(parseMountOptions(['lowerdir=/a,lower_passthrough']), { lowerPassthrough: true });
  t.like(parseMountOptions(['lowerdir=/a,lower_passthrough=off']), { lowerPassthrough: false });
  t.is(parseMountOptions(['lowerdir=/a']).lowerPassthrough, undefined, 'absent: the transport default (on)');
  t.throws(() => parseMountOptions(['lowerdir=/a,lower_passthrough=maybe']), { message: /lower_passthrough=maybe: expected on or off/ });
});

test('bad option strings fail with a message naming the option', (t) => {
  t.throws(() => parseMountOptions(['upperdir=/u,workdir=/w']), { message: /lowerdir= is required/ });
  t.throws(() => parseMountOptions(['lowerdir=/a,upperdir=/u']), { message: /upperdir and workdir go together/ });
  t.throws(() => parseMountOptions(['lowerdir=/a,frobnicate']), { message: /unknown mount option 'frobnicate'/ });
  t.throws(() => parseMountOptions(['lowerdir=/a::/b']), { message: /empty layer path/ });
});

test('formatMountOptions round-trips through parseMountOptions', (t) => {
  const o = { lowerDirs: ['/x:y', '/with,comma', '/plain'], upperDir: '/u', workDir: '/w', whiteout: 'aufs' as const };
  t.deepEqual(parseMountOptions([formatMountOptions(o)]), o);
  for (const lowerPassthrough of [true, false]) {
    const lp = { ...o, lowerPassthrough };
    t.deepEqual(parseMountOptions([formatMountOptions(lp)]), lp);
  }
  for (const dirCache of [true, false, '/var/cache/x,y:z']) {
    const dc = { ...o, dirCache };
    t.deepEqual(parseMountOptions([formatMountOptions(dc)]), dc);
  }
  t.deepEqual(splitEscaped('a\\:b:c', ':'), ['a:b', 'c']);
});

test('dircache= is on, off or an absolute directory', (t) => {
  t.is(parseMountOptions(['lowerdir=/l,dircache=off']).dirCache, false);
  t.is(parseMountOptions(['lowerdir=/l,dircache=on']).dirCache, true);
  t.is(parseMountOptions(['lowerdir=/l,dircache=/tmp/c']).dirCache, '/tmp/c');
  t.is(parseMountOptions(['lowerdir=/l']).dirCache, undefined);
  t.throws(() => parseMountOptions(['lowerdir=/l,dircache=rel/dir']), { message: /dircache=rel\/dir: expected on, off or an absolute directory/ });
});
