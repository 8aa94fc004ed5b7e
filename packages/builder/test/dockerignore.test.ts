import test from 'ava';
import { IgnoreMatcher } from '../src/dockerignore.ts';

test('exceptions below an excluded directory, **, last match wins (conformance 19)', (t) => {
  const m = new IgnoreMatcher(['.git', 'pkg', '.gitignore', 'src/_vendor', '*.md', 'dir', '!dir/e*', '!dir/dir/foo', '**/*.cc', '!**/*.cc', 'stuff/huge/*', '!stuff/huge/usr/bin/*']);
  const ex = (p: string) => m.excluded(p);
  t.false(ex('src/x.go'));
  t.true(ex('src/_vendor/v.go'));
  t.true(ex('README.md'));
  t.true(ex('dir/foo'));
  t.false(ex('dir/e'));
  t.false(ex('dir/e-dir/foo'));
  t.false(ex('dir/dir/foo'));
  t.true(ex('dir/dir/f1'));
  t.false(ex('dir/a.cc'));
  t.false(ex('stuff/huge/usr/bin/file1'));
  t.true(ex('stuff/huge/usr/file3'));
});

test('leading * with re-includes (conformance 20)', (t) => {
  const m = new IgnoreMatcher(['# comment', '*', '!test*', '!src', '**/*.in', 'src/etc', '*.md', '!README*.md', 'README-secret.md', 'test1.txt']);
  t.true(m.excluded('Dockerfile'));
  t.false(m.excluded('test2.txt'));
  t.true(m.excluded('test1.txt'));
  t.false(m.excluded('src/cmd/Makefile'));
  t.true(m.excluded('src/cmd/main.in'));
  t.true(m.excluded('src/etc/foo.conf'));
  t.false(m.excluded('README.md'));
  t.true(m.excluded('README-secret.md'));
  t.true(m.excluded('BUILD.md'));
});

test('leading slash and ./ are cleaned; ? and [..] stay within a component', (t) => {
  const m = new IgnoreMatcher(['/a/b', './c', 'd?', '[ef]x']);
  t.true(m.excluded('a/b/z'));
  t.true(m.excluded('c'));
  t.true(m.excluded('d1'));
  t.false(m.excluded('d/1'));
  t.true(m.excluded('ex'));
  t.false(m.excluded('gx'));
});
