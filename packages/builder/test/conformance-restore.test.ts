// The corpus restore must be strict: it repairs exactly the damage its
// manifest predicts and refuses anything else, so it can never mask a changed
// corpus. Runs on a scratch copy of the real corpus, damaged here the way the
// laid-out copy is (whatever state the shared copy is in).
import test from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidInput, run } from '@strata/common';
import { corpusCandidates, corpusDir, restoreCorpus } from './conformance-restore.ts';

// A local const: TypeScript narrows it inside the tests' closures.
const corpus = corpusDir;


interface Manifest {
  cases: Record<string, {
    symlinks?: Record<string, { target: string }>;
    hardlinks?: { paths: string[] }[];
    dirs?: Record<string, { mode: string }>;
    modes?: Record<string, { mode: string }>;
  }>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'conformance-restore.json'), 'utf8')) as Manifest;

/** Does to a restored copy what laying out the corpus does: the inverse of each manifest entry. */
function damage(copy: string): void {
  for (const [name, fixes] of Object.entries(manifest.cases)) {
    const at = (rel: string): string => path.join(copy, 'cases', name, rel);
    for (const [rel, { mode }] of Object.entries(fixes.modes ?? {})) {
      const st = fs.lstatSync(at(rel));
      fs.chmodSync(at(rel), (st.isDirectory() || (parseInt(mode, 8) & 0o111) !== 0 ? 0o555 : 0o444) | 0o200);
    }
    for (const rel of Object.keys(fixes.dirs ?? {})) fs.rmdirSync(at(rel));
    for (const { paths } of fixes.hardlinks ?? []) {
      for (const rel of paths.slice(1)) {
        const data = fs.readFileSync(at(rel));
        fs.unlinkSync(at(rel));
        fs.writeFileSync(at(rel), data, { mode: 0o644 });
      }
    }
    for (const [rel, { target }] of Object.entries(fixes.symlinks ?? {})) {
      fs.unlinkSync(at(rel));
      fs.writeFileSync(at(rel), target, { mode: 0o644 });
    }
  }
}

/** Everything the manifest speaks about, as one comparable string. */
function facts(copy: string): string {
  const lines: string[] = [];
  for (const [name, fixes] of Object.entries(manifest.cases)) {
    const at = (rel: string): string => path.join(copy, 'cases', name, rel);
    for (const rel of Object.keys(fixes.symlinks ?? {})) lines.push(`${name}/${rel} -> ${fs.lstatSync(at(rel)).isSymbolicLink() ? fs.readlinkSync(at(rel)) : 'FILE'}`);
    for (const rel of [...Object.keys(fixes.modes ?? {}), ...Object.keys(fixes.dirs ?? {})]) {
      const st = fs.lstatSync(at(rel), { throwIfNoEntry: false });
      lines.push(`${name}/${rel} ${st ? (st.mode & 0o7777).toString(8) : 'MISSING'}`);
    }
    for (const { paths } of fixes.hardlinks ?? []) lines.push(`${name} inodes ${new Set(paths.map((p) => fs.statSync(at(p)).ino)).size}`);
  }
  return lines.join('\n');
}

let work: string;

test.before(async () => {
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'strata-corpus-restore-'));
});

test.after.always(async () => {
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

async function freshCopy(name: string): Promise<string> {
  const copy = path.join(work, name);
  await run('cp', ['-a', corpus!, copy]);
  await run('chmod', ['-R', 'u+w', copy]);
  restoreCorpus(copy); // whatever state the shared copy is in, it is now restored
  return copy;
}

if (!corpus) {
  test('conformance corpus is present', (t) => {
    t.fail(`Dockerfile conformance corpus not found; looked in ${corpusCandidates.join(', ')} (set STRATA_CONFORMANCE_DIR)`);
  });
} else {
  test('restore undoes exactly the recorded damage; an intact copy is left alone', async (t) => {
    const copy = await freshCopy('roundtrip');
    const restored = facts(copy);
    t.regex(restored, /15-copy-symlinks\/context\/tree\/rel -> \.\.\/bar/);
    t.regex(restored, /23-hardlinks inodes 1/);
    t.regex(restored, /25-file-modes\/context\/modes\/ro 444/);
    t.deepEqual(restoreCorpus(copy), { intact: true, applied: [] });
    damage(copy);
    t.not(facts(copy), restored);
    const r = restoreCorpus(copy);
    t.false(r.intact);
    t.true(r.applied.length > 0);
    t.is(facts(copy), restored);
  });

  test('a damaged file that holds another target is refused, naming it', async (t) => {
    const copy = await freshCopy('other-target');
    damage(copy);
    const rel = path.join(copy, 'cases/15-copy-symlinks/context/tree/rel');
    fs.writeFileSync(rel, '../baz');
    const err = t.throws(() => restoreCorpus(copy), { instanceOf: InvalidInput });
    t.true(err?.message.includes(rel), err?.message);
  });

  test('a mode whose exec bit disagrees with the record is refused', async (t) => {
    const copy = await freshCopy('other-mode');
    damage(copy);
    const exec = path.join(copy, 'cases/25-file-modes/context/modes/exec');
    fs.chmodSync(exec, 0o644);
    const err = t.throws(() => restoreCorpus(copy), { instanceOf: InvalidInput });
    t.true(err?.message.includes(exec), err?.message);
  });

  test('hardlink candidates with different content are refused', async (t) => {
    const copy = await freshCopy('other-content');
    damage(copy);
    const p = path.join(copy, 'cases/23-hardlinks/context/test4.txt');
    fs.writeFileSync(p, 'test4\n');
    const err = t.throws(() => restoreCorpus(copy), { instanceOf: InvalidInput });
    t.true(err?.message.includes(p), err?.message);
  });
}
