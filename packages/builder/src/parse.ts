// Dockerfile text -> instructions. dockerfile-ast finds the directives, the
// escape character and where each instruction starts and ends (continuations,
// comment lines inside them, heredoc bodies); this file turns each range into
// a logical line the way Docker's parser does (an escape at the end of a line
// joins the next; comment and blank lines inside a continuation are dropped;
// whitespace-only continuation lines are kept), splits off the leading
// --flags, and cuts heredoc bodies out. Errors name file:line.
import { DockerfileParser } from 'dockerfile-ast';
import { InvalidInput } from '@strata/common';

export const KNOWN_INSTRUCTIONS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

/** The flags each instruction accepts; `true` marks boolean flags. */
const FLAGS: Record<string, Record<string, boolean>> = {
  FROM: { platform: false },
  RUN: { mount: false, network: false, security: false },
  COPY: { from: false, chown: false, chmod: false, link: true, parents: true, exclude: false },
  ADD: { chown: false, chmod: false, link: true, checksum: false, 'keep-git-dir': true, exclude: false },
  HEALTHCHECK: { interval: false, timeout: false, 'start-period': false, 'start-interval': false, retries: false },
};

/** A heredoc attached to RUN/COPY/ADD: `<<EOF` ... `EOF`. */
export interface Heredoc {
  name: string;
  /** The body, with leading tabs stripped for `<<-`. Ends with "\n" unless empty. */
  content: string;
  /** False when the delimiter was quoted: no variable expansion. */
  expand: boolean;
  chomp: boolean;
}

/** One instruction, as Docker's parser sees it. */
export interface Instruction {
  /** Upper-case keyword, e.g. "RUN". */
  keyword: string;
  /** 1-based line of the keyword. */
  line: number;
  /** The file the instruction came from (for messages). */
  file: string;
  /** --name=value flags before the arguments (boolean flags map to "true"). */
  flags: Map<string, string>;
  /** Argument text after the flags, continuations joined, heredoc bodies removed. */
  args: string;
  heredocs: Heredoc[];
  /** The keyword as written plus the joined arguments (ONBUILD stores this verbatim). */
  text: string;
  /** The escape character in effect. */
  escape: string;
}

export interface ParsedDockerfile {
  escape: string;
  /** `# syntax=` value if given (accepted and ignored: strata is its own frontend). */
  syntax?: string;
  instructions: Instruction[];
}

/** Where an error happened, as "FILE:LINE". */
export function at(ins: Pick<Instruction, 'file' | 'line'>): string {
  return `${ins.file}:${ins.line}`;
}

const HEREDOC_RE = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** Joins continuation lines the way Docker's parser does. Returns the logical line and how many raw lines it used. */
function joinContinuations(lines: string[], escape: string): { text: string; used: number } {
  const contRe = new RegExp(`${escape === '\\' ? '\\\\' : escape}[ \\t]*$`);
  let text = '';
  let i = 0;
  for (; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (i > 0) {
      const trimmed = raw.trimStart();
      // Comment lines and empty lines inside a continuation are skipped.
      if (trimmed.startsWith('#') || trimmed === '') continue;
    }
    const m = contRe.exec(raw);
    if (m) {
      text += raw.slice(0, m.index);
      continue;
    }
    text += raw;
    return { text, used: i + 1 };
  }
  return { text, used: lines.length };
}

/** Splits leading --flags off an argument string. */
function splitFlags(keyword: string, args: string, where: string): { flags: Map<string, string>; rest: string } {
  const flags = new Map<string, string>();
  let rest = args.trimStart();
  const allowed = FLAGS[keyword] ?? {};
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(=((?:"[^"]*"|'[^']*'|[^\s"'])*))?(?=\s|$)/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    if (!(name in allowed)) throw new InvalidInput(`${where}: unknown flag: --${name} for ${keyword}`);
    if (m[2] === undefined) {
      if (!allowed[name]) throw new InvalidInput(`${where}: missing a value on flag: --${name} (write --${name}=VALUE)`);
      flags.set(name, 'true');
    } else {
      flags.set(name, m[3]!);
    }
    rest = rest.slice(m[0].length).trimStart();
  }
  return { flags, rest };
}

/** Parses a Dockerfile. `file` names it in messages. */
export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  const df = DockerfileParser.parse(text);
  const escape = df.getEscapeCharacter();
  const syntax = df.getDirectives().find((d) => d.getName().toLowerCase() === 'syntax')?.getValue();
  const docLines = text.split('\n');
  const instructions: Instruction[] = [];
  for (const node of df.getInstructions()) {
    const r = node.getRange();
    const kr = node.getInstructionRange();
    const line = r.start.line + 1;
    const keyword = node.getKeyword().toUpperCase();
    const where = `${file}:${line}`;
    if (!KNOWN_INSTRUCTIONS.has(keyword)) {
      throw new InvalidInput(`${where}: unknown instruction: ${node.getInstruction()}`);
    }
    const raw = docLines.slice(r.start.line, r.end.line + 1);
    raw[0] = raw[0]!.slice(kr.end.character);
    instructions.push(buildInstruction(keyword, node.getInstruction(), raw, line, file, escape, where));
  }
  return { escape, syntax, instructions };
}

function buildInstruction(keyword: string, written: string, raw: string[], line: number, file: string, escape: string, where: string): Instruction {
  const { text: first, used } = joinContinuations(raw, escape);
  const { flags, rest } = splitFlags(keyword, first, where);
  const heredocs: Heredoc[] = [];
  if ((keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD') && !rest.startsWith('[')) {
    let body = raw.slice(used);
    for (const m of rest.matchAll(HEREDOC_RE)) {
      const chomp = m[1] === '-';
      const name = m[3]!;
      const end = body.findIndex((l) => (chomp ? l.replace(/^\t+/, '') : l).replace(/\r$/, '') === name);
      if (end < 0) throw new InvalidInput(`${where}: heredoc <<${name} has no terminating line "${name}"`);
      const lines = body.slice(0, end).map((l) => (chomp ? l.replace(/^\t+/, '') : l));
      heredocs.push({ name, content: lines.length ? lines.join('\n') + '\n' : '', expand: m[2] === '', chomp });
      body = body.slice(end + 1);
    }
  }
  const args = rest.trimEnd();
  if (args === '' && heredocs.length === 0) throw new InvalidInput(`${where}: ${keyword} requires at least one argument`);
  return { keyword, line, file, flags, args, heredocs, text: `${written} ${first.trim()}`, escape };
}

/** Parses one instruction text (an ONBUILD trigger) as if it were a one-line Dockerfile. */
export function parseInstruction(text: string, file: string, line: number): Instruction {
  const parsed = parseDockerfile(text, file);
  if (parsed.instructions.length !== 1) throw new InvalidInput(`${file}:${line}: not one instruction: ${text}`);
  return { ...parsed.instructions[0]!, line };
}

/** If `args` is a JSON array of strings (exec form), returns it; else null (shell form). */
export function parseJsonForm(args: string): string[] | null {
  const t = args.trim();
  if (!t.startsWith('[')) return null;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // Not JSON: Docker falls back to the shell form.
  }
  return null;
}
