// Dockerfile-level variable expansion, with the rules of Docker's shell lexer
// (moby/buildkit frontend/dockerfile/shell): single quotes are literal, double
// quotes allow $-expansion and escape only `"`, `$` and the escape character,
// an unquoted escape character makes the next character literal, and
// $VAR, ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word},
// ${VAR:?msg}, ${VAR?msg} expand. Unset variables expand to "".
// Which instructions expand is decided by the caller (plan.ts).
import { InvalidInput } from '@strata/common';

/** Variables visible to an expansion: name -> value (absent = unset). */
export type VarEnv = ReadonlyMap<string, string>;

export interface LexOptions {
  /** The `# escape=` character: `\` (default) or a backtick. */
  escape?: string;
  /** Keep quotes as they are (heredoc bodies: only `$` expands). */
  rawQuotes?: boolean;
  /** Keep escape characters as they are (heredoc bodies). */
  rawEscapes?: boolean;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Lexer {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly env: VarEnv,
    private readonly esc: string,
    private readonly opts: LexOptions,
  ) {}

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private next(): string | undefined {
    return this.src[this.pos++];
  }

  /** Processes until `stop` (consumed) or the end; `fields` collects word splits when given. */
  word(stop?: string, fields?: string[]): string {
    let out = '';
    while (this.pos < this.src.length) {
      const ch = this.peek()!;
      if (stop !== undefined && ch === stop) {
        this.pos++;
        return out;
      }
      if (ch === "'" && !this.opts.rawQuotes) {
        out += this.singleQuoted();
      } else if (ch === '"' && !this.opts.rawQuotes) {
        out += this.doubleQuoted();
      } else if (ch === '$') {
        const v = this.dollar();
        if (fields) {
          // An unquoted expansion splits into fields on whitespace.
          const parts = v.split(/[ \t\n]+/);
          if (parts.length > 1) {
            out += parts[0];
            for (const p of parts.slice(1)) {
              if (out !== '') fields.push(out);
              out = p;
            }
            continue;
          }
        }
        out += v;
      } else if (fields && /[ \t\n]/.test(ch)) {
        this.pos++;
        if (out !== '') fields.push(out);
        out = '';
      } else {
        this.pos++;
        if (ch === this.esc && !this.opts.rawEscapes) {
          const n = this.next();
          if (n === undefined) break;
          out += n;
        } else {
          out += ch;
        }
      }
    }
    if (stop !== undefined) throw new InvalidInput(`unexpected end of text looking for '${stop}'`);
    return out;
  }

  private singleQuoted(): string {
    this.pos++;
    const end = this.src.indexOf("'", this.pos);
    if (end < 0) throw new InvalidInput('unexpected end of statement while looking for matching single-quote');
    const s = this.src.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private doubleQuoted(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new InvalidInput('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.esc) {
        const n = this.peek();
        if (n === undefined) continue;
        if (n === '"' || n === '$' || n === this.esc) {
          this.pos++;
          out += n;
          continue;
        }
      }
      out += ch;
    }
  }

  private dollar(): string {
    this.pos++; // '$'
    const ch = this.peek();
    if (ch === '{') {
      this.pos++;
      const name = this.name();
      if (name === '') throw new InvalidInput('bad substitution: ${} needs a variable name');
      const c = this.peek();
      if (c === '}') {
        this.pos++;
        return this.env.get(name) ?? '';
      }
      let op = '';
      if (c === ':') {
        this.pos++;
        op = ':';
      }
      const m = this.next();
      if (m === '-' || m === '+' || m === '?') {
        op += m;
      } else {
        throw new InvalidInput(`unsupported modifier (${op}${m ?? ''}) in substitution of \${${name}}`);
      }
      const word = this.word('}');
      const v = this.env.get(name);
      const empty = op.startsWith(':') ? v === undefined || v === '' : v === undefined;
      switch (op) {
        case '-': case ':-':
          return empty ? word : v!;
        case '+': case ':+':
          return empty ? '' : word;
        default:
          if (empty) throw new InvalidInput(`${name}: ${word || 'is not allowed to be unset'}`);
          return v!;
      }
    }
    if (ch !== undefined && NAME_START.test(ch)) {
      return this.env.get(this.name()) ?? '';
    }
    return '$';
  }

  private name(): string {
    let n = '';
    while (this.pos < this.src.length && NAME_CHAR.test(this.src[this.pos]!)) n += this.src[this.pos++];
    return n;
  }
}

/** Expands one word (quotes removed, escapes applied); never splits. */
export function expandWord(word: string, env: VarEnv, opts: LexOptions = {}): string {
  return new Lexer(word, env, opts.escape ?? '\\', opts).word();
}

/** Expands a string into fields, splitting on unquoted whitespace (EXPOSE, VOLUME lists). */
export function expandWords(text: string, env: VarEnv, opts: LexOptions = {}): string[] {
  const fields: string[] = [];
  const last = new Lexer(text, env, opts.escape ?? '\\', opts).word(undefined, fields);
  if (last !== '') fields.push(last);
  return fields;
}

/**
 * Splits an instruction's argument text into words the way Docker's parser
 * does before expansion: on unquoted whitespace, keeping quotes and escapes
 * in the words (expandWord removes them later).
 */
export function splitWords(rest: string, escape = '\\'): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let inWord = false;
  let blankOk = false;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (!inWord && !quote) {
      if (/\s/.test(ch)) continue;
      inWord = true;
    }
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (i + 1 === rest.length) continue;
        word += ch;
        i++;
        word += rest[i];
        continue;
      }
      word += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (blankOk || word !== '') words.push(word);
      word = '';
      blankOk = false;
      inWord = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOk = true;
    }
    if (ch === escape) {
      if (i + 1 === rest.length) continue;
      word += ch;
      i++;
      word += rest[i];
      continue;
    }
    word += ch;
  }
  if (blankOk || word !== '') words.push(word);
  return words;
}

/** Names of the variables a text refers to ($X, ${X...}); used by cache keys and ARG tracking. */
export function referencedVars(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) out.add(m[1]!);
  return out;
}
