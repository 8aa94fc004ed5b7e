// .dockerignore with Docker's rules (moby/patternmatcher): one pattern per
// line, `#` comments, a leading `!` re-includes, patterns are cleaned and
// anchored at the context root, `*` and `?` stay within one path component,
// `**` crosses components, and a pattern that matches a parent directory
// matches everything below it. The last pattern that matches decides.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrno } from '@strata/common';

interface Pattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
}

/** Decides which context paths the build may see. */
export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: readonly string[]) {
    this.patterns = [];
    for (let raw of lines) {
      raw = raw.trim();
      if (raw === '' || raw.startsWith('#')) continue;
      let exclusion = false;
      if (raw.startsWith('!')) {
        exclusion = true;
        raw = raw.slice(1).trim();
      }
      let p = path.posix.normalize(raw);
      p = p.replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '.' || p === '') {
        // "." matches the root; keep Docker's behaviour of matching everything below it.
        p = '**';
      }
      this.patterns.push({ text: p, exclusion, re: compile(p) });
    }
  }

  /** True if there are no patterns. */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True if any `!` pattern exists (then an excluded dir must still be walked). */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** True if the context-relative path `rel` ("a/b") is excluded. */
  excluded(rel: string): boolean {
    if (rel === '' || rel === '.') return false;
    const parents = rel.split('/').slice(0, -1);
    let matched = false;
    for (const pat of this.patterns) {
      // An exclusion can only undo a match, an inclusion only make one.
      if (pat.exclusion !== matched) continue;
      let m = pat.re.test(rel);
      if (!m) {
        for (let i = 1; i <= parents.length && !m; i++) m = pat.re.test(parents.slice(0, i).join('/'));
      }
      if (m) matched = !pat.exclusion;
    }
    return matched;
  }
}

/** Pattern -> anchored regex, as patternmatcher compiles it. */
function compile(p: string): RegExp {
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '*') {
      if (p[i + 1] === '*') {
        i++;
        // "**/" also matches nothing at all.
        if (p[i + 1] === '/') {
          i++;
          re += '(.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
      } else {
        let cls = p.slice(i + 1, end);
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < p.length) {
      i++;
      re += p[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(re + '$');
}

/** Reads CONTEXT/.dockerignore (absent: nothing ignored). */
export async function loadIgnore(contextDir: string): Promise<IgnoreMatcher> {
  try {
    const text = await fs.readFile(path.join(contextDir, '.dockerignore'), 'utf8');
    return new IgnoreMatcher(text.split('\n'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return new IgnoreMatcher([]);
    throw err;
  }
}

/** Shell-style match of one path component (for COPY wildcards: `*`, `?`, `[...]`). */
export function matchComponent(pattern: string, name: string): boolean {
  return compile(pattern).test(name);
}

/** True if a COPY source has wildcard characters. */
export function hasWildcard(p: string): boolean {
  return /[*?[]/.test(p);
}
