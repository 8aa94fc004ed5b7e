// strata build end to end through the library: real store, real FUSE
// mounts, real runc. FROM the busybox base made by the fixtures script.
// Checks the resulting trees and configs, the cache (no-change rebuild,
// mtime-only change, content change, failed RUN) and the error cases.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { InvalidInput, NotFound, ProcessFailed } from '@strata/common';
import { importArchive, openStore, type FsStore } from '@strata/store';
import { build, type BuildOptions } from '../src/index.ts';
import { LayerView } from '../src/rootfs-view.ts';

const repo = path.resolve(import.meta.dirname, '../../..');
let tmp: string;
let store: FsStore;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-build-'));
  store = await openStore(path.join(tmp, 'store'));
  await importArchive(store, path.join(repo, 'fixtures/out/busybox-rootfs.tar'), 'localhost/busybox:latest');
});

test.after.always(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Writes a context dir from a {path: content} map. */
async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(tmp, name);
  for (const [p, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await fs.writeFile(path.join(dir, p), content);
  }
  return dir;
}

async function doBuild(opts: Partial<BuildOptions> & { contextDir: string }) {
  let log = '';
  const out = new Writable({ write(chunk, _enc, cb) { log += chunk.toString(); cb(); } });
  const res = await build(store, { progress: 'plain', progressOut: out, ...opts });
  return { ...res, log };
}

async function rootfs(ref: string): Promise<LayerView> {
  return new LayerView(await store.layerDirs(await store.resolve(ref)));
}

async function readIn(view: LayerView, p: string): Promise<string> {
  const f = await view.lstat(await view.resolve(p, true));
  if (!f) throw new Error(`${p} missing`);
  return fs.readFile(f.hostPath, 'utf8');
}

test.serial('the example builds: multi-stage, COPY --from, --chmod, USER, config', async (t) => {
  const ctx = path.join(repo, 'fixtures/example');
  const r = await doBuild({ contextDir: ctx, tags: ['localhost/example:test'], buildArgs: { GREETING: 'hi' } });
  const view = await rootfs('localhost/example:test');
  t.is(await readIn(view, '/app/greeting.txt'), 'hi, built by strata on a FUSE union mount\n');
  const hello = await view.lstat('/usr/local/bin/hello');
  t.is(hello!.stat.mode & 0o7777, 0o755);
  t.is(hello!.stat.uid, 0);
  const c = r.config.config!;
  t.deepEqual(c.Cmd, ['hello']);
  t.is(c.User, 'app');
  t.is(c.WorkingDir, '/app');
  t.true(c.Env!.includes('APP_HOME=/app'));
  t.is(c.Labels!['org.opencontainers.image.title'], 'strata example');
  t.regex(r.log, /#\d+ \[build 4\/4\] RUN sed/);
  t.regex(r.log, /#\d+ DONE \d+\.\d+s/);
  // Each layer-making instruction has a history entry; config-only ones are empty_layer.
  const hist = r.config.history!;
  t.is(hist.filter((h) => !h.empty_layer).length, r.config.rootfs.diff_ids.length);
  t.true(hist.some((h) => h.empty_layer && h.created_by === 'USER app'));
});

test.serial('cache: no-change rebuild is all CACHED with the same digest; mtime alone changes nothing; content change rebuilds from its COPY', async (t) => {
  const ctx = await context('cache', {
    Dockerfile: 'FROM localhost/busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\nENV X=1\n',
    'a.txt': 'A\n',
    'b.txt': 'B\n',
  });
  const first = await doBuild({ contextDir: ctx });
  t.is(first.cached, 0);
  t.is(first.executed, 4);
  const again = await doBuild({ contextDir: ctx });
  t.is(again.executed, 0);
  t.is(again.cached, 4);
  t.is(again.manifest.digest, first.manifest.digest);
  t.is((again.log.match(/CACHED/g) ?? []).length, 4);

  const later = new Date(Date.now() + 60_000);
  await fs.utimes(path.join(ctx, 'a.txt'), later, later);
  const touched = await doBuild({ contextDir: ctx });
  t.is(touched.manifest.digest, first.manifest.digest);

  await fs.writeFile(path.join(ctx, 'b.txt'), 'B2\n');
  const changedB = await doBuild({ contextDir: ctx });
  t.is(changedB.executed, 1, changedB.log);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'A2\n');
  const changedA = await doBuild({ contextDir: ctx, tags: ['localhost/cache:a2'] });
  // RUN echo stays cached; COPY a.txt, RUN cat and COPY b.txt run again.
  t.is(changedA.cached, 1);
  t.is(changedA.executed, 3);
  t.is(await readIn(await rootfs('localhost/cache:a2'), '/copy'), 'A2\n');
});

test.serial('a failing RUN stops the build with its exit code, tags nothing and keeps the earlier steps cached', async (t) => {
  const ctx = await context('fail', { Dockerfile: 'FROM localhost/busybox\nRUN echo ok > /ok\nRUN echo out; exit 7\nRUN touch /never\n' });
  const err = await t.throwsAsync(doBuild({ contextDir: ctx, tags: ['localhost/fail:x'] }), { instanceOf: ProcessFailed });
  t.is(err!.exitCode, 7);
  t.regex(err!.message, /Dockerfile:3: process "\/bin\/sh -c echo out; exit 7" did not complete successfully: exit code: 7/);
  await t.throwsAsync(store.resolve('localhost/fail:x'), { instanceOf: NotFound });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM localhost/busybox\nRUN echo ok > /ok\nRUN true\n');
  const fixed = await doBuild({ contextDir: ctx });
  t.is(fixed.cached, 1);
});

test.serial('a RUN that renames a directory of an earlier layer commits a layer that stands on its own', async (t) => {
  // On the FUSE mount the rename copies the directory up whole (redirect_dir=copy):
  // an OCI layer has no redirects, so the moved files must be in the new layer.
  const ctx = await context('rename-dir', {
    Dockerfile: 'FROM localhost/busybox\nRUN mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b\nRUN mv /data /moved && echo three > /moved/c\n',
  });
  await doBuild({ contextDir: ctx, tags: ['localhost/rename-dir:x'] });
  const view = await rootfs('localhost/rename-dir:x');
  t.is(await view.lstat('/data'), null, '/data is gone');
  t.is(await readIn(view, '/moved/a'), 'one\n');
  t.is(await readIn(view, '/moved/sub/b'), 'two\n');
  t.is(await readIn(view, '/moved/c'), 'three\n');
});

test.serial('error cases name the file and line', async (t) => {
  const cases: Array<[Record<string, string>, Partial<BuildOptions>, RegExp, new (...a: never[]) => Error]> = [
    [{ Dockerfile: 'FROM localhost/busybox\nBOGUS x\n' }, {}, /Dockerfile:2: unknown instruction: BOGUS/, InvalidInput],
    [{ Dockerfile: 'FROM localhost/busybox\nCOPY missing.txt /\n' }, {}, /Dockerfile:2: COPY missing.txt: missing.txt: no such file or directory in the build context/, NotFound],
    [{ Dockerfile: 'FROM localhost/busybox\nCOPY ../outside /\n' }, {}, /Dockerfile:2: COPY.*outside: no such file or directory/, NotFound],
    [{ Dockerfile: 'FROM localhost/busybox\nCOPY --from=nostage /x /\n' }, {}, /Dockerfile:2: COPY: nostage: no stage or image/, NotFound],
    [{ Dockerfile: 'FROM localhost/busybox AS a\n' }, { target: 'zzz' }, /target stage "zzz" could not be found/, NotFound],
    [{ Dockerfile: 'FROM localhost/busybox\nCOPY secret /\n', secret: 's', '.dockerignore': 'secret\n' }, {}, /secret: not found: excluded by \.dockerignore/, NotFound],
    [{ Dockerfile: 'FROM localhost/busybox\nADD https://example.com/x /\n' }, {}, /Dockerfile:2: ADD: https:\/\/example.com\/x: remote sources are not supported/, InvalidInput],
    [{ Dockerfile: 'FROM localhost/busybox\nRUN --mount=type=cache,target=/c true\n' }, {}, /Dockerfile:2: RUN --mount is not supported/, InvalidInput],
    [{ Dockerfile: 'FROM --platform=linux/s390x localhost/busybox\n' }, {}, /Dockerfile:1: FROM --platform=linux\/s390x: strata builds only for this machine/, InvalidInput],
  ];
  let i = 0;
  for (const [files, opts, re, cls] of cases) {
    const ctx = await context(`err${i++}`, files);
    const err = await t.throwsAsync(doBuild({ contextDir: ctx, ...opts }));
    t.true(err instanceof cls, `${err?.constructor.name}: ${err?.message}`);
    t.regex(err!.message, re);
  }
});

test.serial('ADD extracts tar archives in every compression; COPY keeps them whole', async (t) => {
  const ctx = await context('add', { Dockerfile: '', 'payload/dir/f.txt': 'inside\n' });
  const { run } = await import('@strata/common');
  for (const [name, flag] of [['p.tar', ''], ['p.tar.gz', '-z'], ['p.tar.bz2', '-j'], ['p.tar.xz', '-J'], ['p.tar.zst', '--zstd']] as const) {
    await run('tar', ['-c', ...(flag ? [flag] : []), '-f', path.join(ctx, name), '-C', path.join(ctx, 'payload'), '--owner=7', '--group=8', 'dir']);
  }
  await fs.writeFile(path.join(ctx, 'Dockerfile'), [
    'FROM localhost/busybox',
    'ADD p.tar /t/', 'ADD p.tar.gz /gz', 'ADD p.tar.bz2 /bz2', 'ADD p.tar.xz /xz', 'ADD --chown=5:6 p.tar.zst /zst', 'COPY p.tar /copied/',
  ].join('\n'));
  await doBuild({ contextDir: ctx, tags: ['localhost/add:t'] });
  const view = await rootfs('localhost/add:t');
  for (const d of ['/t', '/gz', '/bz2', '/xz']) {
    const f = await view.lstat(`${d}/dir/f.txt`);
    t.truthy(f, d);
    t.is(f!.stat.uid, 7);
  }
  t.is((await view.lstat('/zst/dir/f.txt'))!.stat.uid, 5);
  t.true((await view.lstat('/copied/p.tar'))!.stat.isFile());
});

test.serial('concurrent builds sharing one store both succeed and agree; cache entries are gc roots', async (t) => {
  const ctx = await context('concurrent', {
    Dockerfile: 'FROM localhost/busybox\nCOPY f /f\nRUN cat /f > /g && echo $RANDOM > /random\nRUN ls / > /listing\n',
    f: 'same\n',
  });
  const [a, b] = await Promise.all([doBuild({ contextDir: ctx, tags: ['localhost/conc:a'] }), doBuild({ contextDir: ctx, tags: ['localhost/conc:b'] })]);
  t.is(a.config.rootfs.diff_ids.length, b.config.rootfs.diff_ids.length);
  t.is(await readIn(await rootfs('localhost/conc:a'), '/g'), 'same\n');
  t.is(await readIn(await rootfs('localhost/conc:b'), '/g'), 'same\n');
  // A third build finds everything cached, whichever of the two wrote the records last.
  const c = await doBuild({ contextDir: ctx });
  t.is(c.executed, 0);
  t.is(await readIn(await rootfs(c.manifest.digest), '/g'), 'same\n');
  const roots = (await fs.readdir(path.join(store.root, 'gcroots'))).filter((n) => n.startsWith('cache-'));
  t.true(roots.length >= 3);
});

test.serial('COPY: symlink sources followed, symlinks inside dirs kept, hardlinks and modes kept, destinations through symlinks', async (t) => {
  const ctx = await context('copysym', {
    Dockerfile: [
      'FROM localhost/busybox',
      'RUN mkdir /real && ln -s /real /via && ln -s /gone /dangling',
      'COPY fsym /',
      'COPY dirlink /fromlink/',
      'COPY tree /tree',
      'COPY modes/ /modes/',
      'COPY fsym /via/',
      'COPY fsym /dangling/',
    ].join('\n'),
    target: 'target-contents',
    'dir/a': 'a',
    'tree/file': 'f',
    'modes/private': 'p',
    'modes/suid': 's',
    'modes/h1': 'h',
  });
  await fs.symlink('target', path.join(ctx, 'fsym'));
  await fs.symlink('dir', path.join(ctx, 'dirlink'));
  await fs.symlink('../target', path.join(ctx, 'tree/rel'));
  await fs.symlink('no-such-file', path.join(ctx, 'tree/dangling'));
  await fs.chmod(path.join(ctx, 'modes/private'), 0o600);
  await fs.chmod(path.join(ctx, 'modes/suid'), 0o4755);
  await fs.link(path.join(ctx, 'modes/h1'), path.join(ctx, 'modes/h2'));
  await doBuild({ contextDir: ctx, tags: ['localhost/copysym:t'] });
  const v = await rootfs('localhost/copysym:t');
  t.is(await readIn(v, '/fsym'), 'target-contents');
  t.true((await v.lstat('/fsym'))!.stat.isFile());
  t.is(await readIn(v, '/fromlink/a'), 'a');
  t.is(await fs.readlink((await v.lstat('/tree/rel'))!.hostPath), '../target');
  t.is(await fs.readlink((await v.lstat('/tree/dangling'))!.hostPath), 'no-such-file');
  t.is((await v.lstat('/modes/private'))!.stat.mode & 0o7777, 0o600);
  t.is((await v.lstat('/modes/suid'))!.stat.mode & 0o7777, 0o4755);
  const h1 = (await v.lstat('/modes/h1'))!.stat;
  const h2 = (await v.lstat('/modes/h2'))!.stat;
  t.is(h1.ino, h2.ino);
  // The symlink /via stays a symlink; the file went to /real.
  t.true((await v.lstat('/via'))!.stat.isSymbolicLink());
  t.is(await readIn(v, '/real/fsym'), 'target-contents');
  // A dangling symlink destination gets its target directory made.
  t.is(await readIn(v, '/gone/fsym'), 'target-contents');
});

test.serial('--isolation chroot runs RUN without runc; --no-cache executes every step; json progress', async (t) => {
  const ctx = await context('chroot', { Dockerfile: 'FROM localhost/busybox\nUSER nobody\nRUN id -u > /tmp/who && echo $$ > /tmp/pid\n' });
  const r = await doBuild({ contextDir: ctx, isolation: 'chroot', tags: ['localhost/chroot:t'], progress: 'json' });
  const v = await rootfs('localhost/chroot:t');
  t.is(await readIn(v, '/tmp/who'), '65534\n');
  const events = r.log.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  t.true(events.some((e) => e.type === 'done'));
  const again = await doBuild({ contextDir: ctx, isolation: 'chroot', noCache: true });
  t.is(again.executed, 1);
  t.is(again.cached, 0);
});

test.serial('strata gc keeps the build cache of untagged builds; gc --prune-cache drops it', async (t) => {
  const { gc } = await import('@strata/store');
  const own = await openStore(path.join(tmp, 'gc-store'));
  await importArchive(own, path.join(repo, 'fixtures/out/busybox-rootfs.tar'), 'localhost/busybox:latest');
  const ctx = await context('gc', { Dockerfile: 'FROM localhost/busybox\nCOPY f /f\nRUN cat /f > /g\n', f: 'gc\n' });
  const sink = new Writable({ write(_c, _e, cb) { cb(); } });
  const first = await build(own, { contextDir: ctx, progress: 'plain', progressOut: sink });
  t.is(first.executed, 2);
  // The image is not tagged: only the cache's gc roots keep its layers.
  await gc(own);
  const again = await build(own, { contextDir: ctx, progress: 'plain', progressOut: sink });
  t.is(again.cached, 2);
  const pruned = await gc(own, { pruneCache: true });
  t.true(pruned.prunedRoots.length >= 2);
  t.true(pruned.removedBlobs.length >= 2);
  const cold = await build(own, { contextDir: ctx, progress: 'plain', progressOut: sink });
  t.is(cold.executed, 2);
});
