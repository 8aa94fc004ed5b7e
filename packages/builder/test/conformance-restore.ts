// Puts back, on a scratch copy of the Dockerfile conformance corpus, what the
// laid-out copy lost (symlinks, modes, hardlinks, empty directories), as
// recorded with its evidence in conformance-restore.json. Strict on purpose:
// every fix is applied only if the path is in exactly the damaged state the
// manifest predicts, so a changed corpus fails loudly instead of being masked.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidInput } from '@strata/common';

interface Manifest {
  probe: string;
  cases: Record<string, CaseFixes>;
}

interface CaseFixes {
  symlinks?: Record<string, { target: string }>;
  hardlinks?: { paths: string[] }[];
  dirs?: Record<string, { mode: string }>;
  modes?: Record<string, { mode: string }>;
}

/** What restoreCorpus did: `intact` when the copy needed nothing, else one line per fix. */
export interface RestoreReport {
  intact: boolean;
  applied: string[];
}

/** Where the Dockerfile conformance corpus may be: $STRATA_CONFORMANCE_DIR, else shared/ beside the checkout. */
export const corpusCandidates: string[] = [
  process.env.STRATA_CONFORMANCE_DIR,
  path.resolve(import.meta.dirname, '../../../../shared/conformance/dockerfile'),
  path.resolve(import.meta.dirname, '../../../../../shared/conformance/dockerfile'),
].filter((p): p is string => !!p);

/** The first candidate that holds the corpus (its compare.py), if any. */
export const corpusDir: string | undefined = corpusCandidates.find((p) => fs.existsSync(path.join(p, 'compare.py')));

const manifestPath = path.join(import.meta.dirname, 'conformance-restore.json');

function fail(file: string, why: string): never {
  throw new InvalidInput(`${file}: ${why}; the conformance corpus no longer matches ${manifestPath} (update the manifest from the corpus's evidence)`);
}

function octal(mode: string, where: string): number {
  if (!/^[0-7]{3,4}$/.test(mode)) fail(where, `bad mode "${mode}" in the manifest`);
  return parseInt(mode, 8);
}

/**
 * Restores the damage described in conformance-restore.json inside `corpusCopy`
 * (a writable copy: `cp -a` then `chmod -R u+w`). Does nothing if the probe
 * path is still a symlink (the copy is intact). Throws InvalidInput naming the
 * file if any path is not in the state the manifest predicts for a damaged copy.
 */
export function restoreCorpus(corpusCopy: string): RestoreReport {
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  const casesDir = path.join(corpusCopy, 'cases');
  const probe = path.join(casesDir, manifest.probe);
  const probeStat = fs.lstatSync(probe, { throwIfNoEntry: false });
  if (!probeStat) fail(probe, 'probe path is missing');
  if (probeStat.isSymbolicLink()) return { intact: true, applied: [] };

  const applied: string[] = [];
  for (const [name, fixes] of Object.entries(manifest.cases)) {
    const caseDir = path.join(casesDir, name);
    if (!fs.existsSync(caseDir)) fail(caseDir, 'case directory is missing');
    const at = (rel: string): string => path.join(caseDir, rel);

    // Symlinks: the damaged regular file must hold exactly the recorded target.
    for (const [rel, { target }] of Object.entries(fixes.symlinks ?? {})) {
      const p = at(rel);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st?.isFile()) fail(p, `expected a regular file standing in for a symlink to "${target}", found ${st ? 'another type' : 'nothing'}`);
      const content = fs.readFileSync(p, 'utf8');
      if (content !== target) fail(p, `holds ${JSON.stringify(content)}, not the recorded symlink target ${JSON.stringify(target)}`);
      fs.unlinkSync(p);
      fs.symlinkSync(target, p);
      applied.push(`${name}/${rel} -> ${target}`);
    }

    // Hardlinks: copies with identical content become names of the first path's inode.
    for (const { paths } of fixes.hardlinks ?? []) {
      const [first, ...rest] = paths.map(at);
      if (!first || rest.length === 0) fail(caseDir, 'hardlink group needs at least two paths');
      const firstStat = fs.lstatSync(first, { throwIfNoEntry: false });
      if (!firstStat?.isFile()) fail(first, 'expected a regular file (hardlink group leader)');
      const data = fs.readFileSync(first);
      for (const p of rest) {
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (!st?.isFile()) fail(p, `expected a regular file (hardlink of ${first})`);
        if (st.ino === firstStat.ino) fail(p, `already a hardlink of ${first}, but the copy is damaged elsewhere`);
        if (!fs.readFileSync(p).equals(data)) fail(p, `content differs from ${first}, so it cannot be its hardlink`);
        fs.unlinkSync(p);
        fs.linkSync(first, p);
      }
      applied.push(`${name}: hardlinked ${paths.join(' = ')}`);
    }

    // Empty directories: gone in a damaged copy.
    for (const [rel, { mode }] of Object.entries(fixes.dirs ?? {})) {
      const p = at(rel);
      if (fs.existsSync(p)) fail(p, 'expected the empty directory to be missing from the damaged copy');
      fs.mkdirSync(p);
      fs.chmodSync(p, octal(mode, p));
      applied.push(`${name}/${rel}/ (empty dir, ${mode})`);
    }

    // Modes: a damaged file is 0444, or 0555 if it had an exec bit, a damaged
    // dir 0555 (each plus the u+w the caller added); the exec bit must agree.
    for (const [rel, { mode }] of Object.entries(fixes.modes ?? {})) {
      const p = at(rel);
      const want = octal(mode, p);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st || !(st.isFile() || st.isDirectory())) fail(p, `expected a file or directory to get mode ${mode}`);
      const have = st.mode & 0o7777 & ~0o200;
      const damaged = st.isDirectory() || (want & 0o111) !== 0 ? 0o555 : 0o444;
      if (have !== damaged) fail(p, `mode ${(st.mode & 0o7777).toString(8)} is not the damaged form of the recorded ${mode}`);
      fs.chmodSync(p, want);
      applied.push(`${name}/${rel} mode ${mode}`);
    }
  }
  return { intact: false, applied };
}
