// Everything else a filesystem must do, through a real mount: long names,
// device nodes and fifos, statfs, fsync, other users' permissions, and a
// readdir that survives deletions while it runs (rm -rf).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { run } from '@strata/common';
import { mknod } from '@strata/native';
import { cleanup, ls, makeStack, mountKernel, mountStrata, populate } from './helpers.ts';

test.afterEach.always(async (t) => cleanup(t));

test('255-byte names work (create, whiteout, rename); 256 bytes is ENAMETOOLONG', async (t) => {
  const s = makeStack(1);
  const long = 'n'.repeat(255);
  populate(s.lowers[0]!, { [long]: 'lower' });
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  t.is(fs.readFileSync(m(long), 'utf8'), 'lower');
  fs.unlinkSync(m(long)); // needs a whiteout of the full length name
  t.deepEqual(ls(s.mnt), []);
  const other = 'o'.repeat(255);
  fs.writeFileSync(m(other), 'x');
  fs.renameSync(m(other), m(long));
  t.deepEqual(ls(s.mnt), [long]);
  t.throws(() => fs.writeFileSync(m('x'.repeat(256)), ''), { code: 'ENAMETOOLONG' });
  t.throws(() => fs.statSync(m('x'.repeat(256))), { code: 'ENAMETOOLONG' });
  t.throws(() => fs.mkdirSync(m('y'.repeat(256))), { code: 'ENAMETOOLONG' });
});

test('device nodes and fifos: made through the mount, and copied up from lower layers', async (t) => {
  const s = makeStack(1);
  mknod(path.join(s.lowers[0]!, 'null'), 0o020666, 1, 3);
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const st = fs.statSync(m('null'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, fs.statSync('/dev/null').rdev);
  fs.chmodSync(m('null'), 0o600); // copy-up of a device node
  t.true(fs.lstatSync(path.join(s.upper, 'null')).isCharacterDevice());
  t.is(fs.lstatSync(path.join(s.upper, 'null')).rdev, st.rdev);
  execFileSync('mknod', [m('zero'), 'c', '1', '5']);
  t.is(fs.statSync(m('zero')).rdev, fs.statSync('/dev/zero').rdev);
  t.is(execFileSync('head', ['-c', '4', m('zero')]).length, 4);
  execFileSync('mkfifo', [m('fifo')]);
  t.true(fs.statSync(m('fifo')).isFIFO());
  t.true(fs.lstatSync(path.join(s.upper, 'fifo')).isFIFO());
  // a fifo served through the mount carries data
  const out = execFileSync('sh', ['-c', `(echo through > ${m('fifo')} &) ; cat ${m('fifo')}`], { encoding: 'utf8' });
  t.is(out, 'through\n');
});

test('statfs reports the upper filesystem and 255-byte names; fsync and fdatasync succeed', async (t) => {
  const s = makeStack(1);
  await mountStrata(t, s);
  const sf = fs.statfsSync(s.mnt);
  const up = fs.statfsSync(s.upper);
  t.is(sf.blocks, up.blocks);
  t.true(sf.bsize > 0);
  t.is(execFileSync('stat', ['-f', '-c', '%l', s.mnt], { encoding: 'utf8' }).trim(), '255');
  const fd = fs.openSync(path.join(s.mnt, 'f'), 'w');
  fs.writeSync(fd, 'data');
  fs.fsyncSync(fd);
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  t.is(fs.readFileSync(path.join(s.upper, 'f'), 'utf8'), 'data');
});

test('another user (uid 1000) gets the permissions kernel overlayfs would give', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'pub': 'public', 'priv': 'secret', 'ro/x': 'x', 'open/': null });
  fs.chmodSync(path.join(s.lowers[0]!, 'priv'), 0o600);
  fs.chmodSync(path.join(s.lowers[0]!, 'ro'), 0o755);
  fs.chmodSync(path.join(s.lowers[0]!, 'open'), 0o777);
  fs.chmodSync(s.dir, 0o755);
  await mountStrata(t, s);
  const as1000 = (cmd: string) => run('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'sh', '-c', cmd], { allowFailure: true });
  const m = (p: string) => path.join(s.mnt, p);
  t.is((await as1000(`cat ${m('pub')}`)).stdout, 'public');
  const denied = await as1000(`cat ${m('priv')}`);
  t.not(denied.code, 0);
  t.regex(denied.stderr, /Permission denied/);
  t.regex((await as1000(`touch ${m('ro/new')}`)).stderr, /Permission denied/);
  t.regex((await as1000(`rm -f ${m('ro/x')}`)).stderr, /Permission denied/);
  t.regex((await as1000(`echo y >> ${m('pub')}`)).stderr, /Permission denied/);
  const made = await as1000(`echo mine > ${m('open/mine')} && mkdir ${m('open/d')}`);
  t.is(made.code, 0, made.stderr);
  // new entries belong to their creator, in the merged view and in the upper layer
  t.like(fs.statSync(m('open/mine')), { uid: 1000, gid: 1000 });
  t.like(fs.statSync(path.join(s.upper, 'open/mine')), { uid: 1000, gid: 1000 });
  t.like(fs.statSync(path.join(s.upper, 'open/d')), { uid: 1000, gid: 1000 });
});

test('rm -rf of a large lower tree: readdir resumed between deletions neither skips nor repeats', async (t) => {
  const s = makeStack(2);
  const spec: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) spec[`big/d${i % 7}/f${i}`] = '';
  for (let i = 0; i < 2000; i++) spec[`big/flat/file-with-a-longish-name-${i}`] = ''; // many getdents calls
  populate(s.lowers[1]!, spec);
  populate(s.lowers[0]!, { 'big/top': 't', 'big/d1/extra': 'e' });
  populate(s.upper, { 'big/d2/up': 'u' });
  await mountStrata(t, s);
  const listed = execFileSync('find', [path.join(s.mnt, 'big')], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n');
  t.is(listed.length, 1 + 7 + 1500 + 3 + 1 + 2000);
  t.is(new Set(listed).size, listed.length);
  execFileSync('rm', ['-rf', path.join(s.mnt, 'big')]);
  t.deepEqual(ls(s.mnt), []);
  t.true(fs.lstatSync(path.join(s.upper, 'big')).isCharacterDevice());
});

test('layers on different filesystems: a lower layer on tmpfs copies up to an upper on another fs', async (t) => {
  const s = makeStack(1);
  const shm = fs.mkdtempSync('/dev/shm/strata-ov-');
  t.teardown(() => fs.rmSync(shm, { recursive: true, force: true }));
  populate(shm, { 'f': 'x'.repeat(100000), 'd/g': 'g' });
  await mountStrata(t, s, { lowerDirs: [shm] });
  fs.appendFileSync(path.join(s.mnt, 'f'), 'y');
  t.is(fs.statSync(path.join(s.upper, 'f')).size, 100001);
  fs.renameSync(path.join(s.mnt, 'd'), path.join(s.mnt, 'd2'));
  t.is(fs.readFileSync(path.join(s.mnt, 'd2/g'), 'utf8'), 'g');
});

test('new entries get the mode asked for less the caller\'s umask only, as on kernel overlayfs', async (t) => {
  // The kernel applies the caller's umask before the request reaches the
  // server; a server that let its own umask apply as well made `touch`
  // under umask 0 give 0644 instead of 0666.
  const modes = async (mnt: string): Promise<string> => {
    // merged/ has lower parts (the engine creates there), fresh/ none (the loop may create there itself).
    const script = [
      'umask 0', 'cd "$1"', 'mkdir fresh', 'ls fresh/a 2>/dev/null',
      'for d in merged fresh; do touch $d/file; mkdir $d/dir; mkfifo $d/fifo; mkdir -m 1777 $d/sticky; done',
      'python3 -c "import os; os.close(os.open(\'fresh/exact\', os.O_CREAT | os.O_WRONLY, 0o751))"',
      'umask 027', 'touch fresh/masked merged/masked', 'mkdir fresh/masked-dir',
      'stat -c "%n %a" merged/* fresh/* | sort',
    ].join('; ');
    return execFileSync('sh', ['-c', script, 'sh', mnt]).toString();
  };
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'merged/lower': 'l' });
  await mountStrata(t, s);
  const strata = await modes(s.mnt);
  const k = makeStack(1);
  populate(k.lowers[0]!, { 'merged/lower': 'l' });
  await mountKernel(t, k, k.mnt);
  t.is(strata, await modes(k.mnt));
  t.regex(strata, /^fresh\/file 666$/m);
  t.regex(strata, /^fresh\/dir 777$/m);
  t.regex(strata, /^fresh\/exact 751$/m);
  t.regex(strata, /^merged\/masked 640$/m);
});
