// The Dockerfile conformance corpus (../shared/conformance/dockerfile: 40
// cases from buildah's, BuildKit's and moby's tests), built end to end with
// the `strata` CLI: base image first, then every case in name order (29
// builds FROM 28), each success exported as an OCI layout and judged by the
// corpus's own compare.py; each failure case must exit non-zero with a
// message matching its error_regex. The laid-out corpus may have lost its
// symlinks, modes, hardlinks and empty directories (see
// conformance-restore.json); the scratch copy is restored before any build, so
// every case tests the builder, not the copy.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { corpusCandidates, corpusDir, restoreCorpus } from './conformance-restore.ts';

// A local const: TypeScript narrows it inside the tests' closures.
const corpus = corpusDir;

const repo = path.resolve(import.meta.dirname, '../../..');
const strata = path.join(repo, 'packages/cli/bin/strata.js');

interface Expect {
  tag: string;
  build_args?: Record<string, string>;
  target?: string | null;
  expect: 'success' | 'failure';
  error_regex?: string;
  depends_on?: string[];
}

let work: string;
let root: string;
let out: string;

function strataRun(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [strata, '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function buildArgs(exp: Expect): string[] {
  const a: string[] = [];
  for (const [k, v] of Object.entries(exp.build_args ?? {})) a.push('--build-arg', `${k}=${v}`);
  if (exp.target) a.push('--target', exp.target);
  return a;
}

if (!corpus) {
  test('conformance corpus is present', (t) => {
    t.fail(`Dockerfile conformance corpus not found; looked in ${corpusCandidates.join(', ')} (set STRATA_CONFORMANCE_DIR)`);
  });
} else {
  const cases = fs.readdirSync(path.join(corpus, 'cases')).filter((n) => fs.existsSync(path.join(corpus, 'cases', n, 'expect.json'))).sort();

  test.before(async () => {
    work = await fsp.mkdtemp(path.join(os.tmpdir(), 'strata-conformance-'));
    root = path.join(work, 'store');
    out = path.join(work, 'out');
    await run('cp', ['-a', corpus, path.join(work, 'corpus')]);
    await run('chmod', ['-R', 'u+w', path.join(work, 'corpus')]);
    const restored = restoreCorpus(path.join(work, 'corpus'));
    if (!restored.intact) console.log(`conformance corpus copy restored (${restored.applied.length} fixes):\n  ${restored.applied.join('\n  ')}`);
    await run('python3', ['make-base.py'], { cwd: path.join(work, 'corpus') });
    const r = await strataRun(['build', '--progress', 'plain', '-t', 'localhost/corpus/busybox:latest', path.join(work, 'corpus/base')]);
    if (r.code !== 0) throw new Error(`building the corpus base image failed:\n${r.output}`);
  });

  test.after.always(async () => {
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  for (const name of cases) {
    const exp = JSON.parse(fs.readFileSync(path.join(corpus, 'cases', name, 'expect.json'), 'utf8')) as Expect;
    test.serial(`${name} (${exp.expect})`, async (t) => {
      const dir = path.join(work, 'corpus/cases', name);
      const args = ['build', '--progress', 'plain', ...buildArgs(exp), '-t', exp.tag];
      if (exp.expect === 'success') args.push('--output', `type=oci,dest=${path.join(out, name)}`);
      const r = await strataRun([...args, path.join(dir, 'context')]);
      if (exp.expect === 'failure') {
        t.not(r.code, 0, r.output);
        const re = new RegExp(exp.error_regex!.replace(/^\(\?i\)/, ''), 'i');
        t.regex(r.output, re);
        return;
      }
      t.is(r.code, 0, r.output);
      const c = await run('python3', [path.join(work, 'corpus/compare.py'), 'check', path.join(dir, 'expect.json'), path.join(out, name)], { allowFailure: true });
      t.log(c.stdout.trim().split('\n').slice(-6).join('\n'));
      t.is(c.code, 0, c.stdout);
    });
  }

  test.serial('compare.py checkall passes every success case', async (t) => {
    const c = await run('python3', [path.join(work, 'corpus/compare.py'), 'checkall', out], { allowFailure: true });
    const last = c.stdout.trim().split('\n').pop()!;
    t.log(c.stdout.split('\n').filter((l) => /^(PASS|FAIL)/.test(l)).join('\n'));
    const successes = cases.filter((n) => JSON.parse(fs.readFileSync(path.join(corpus, 'cases', n, 'expect.json'), 'utf8')).expect === 'success');
    t.is(last, `${successes.length} passed, 0 failed`);
  });
}
