// Instructions -> a plan: the global ARGs, the stages (FROM ... AS name and
// what follows), the dependencies between stages (FROM <stage>, COPY
// --from=<stage>), and the set of stages the target needs. Stage references
// are resolved after ARG expansion (FROM stage_${X}, COPY --from=$SRC), with
// ARG values computed statically from the Dockerfile and the build args, as
// BuildKit does.
import os from 'node:os';
import { InvalidInput, NotFound } from '@strata/common';
import { at, type Instruction, type ParsedDockerfile } from './parse.ts';
import { expandWord, splitWords } from './shell-lex.ts';

export interface Stage {
  /** Position among all stages (COPY --from=N). */
  index: number;
  /** Lower-cased `AS` name, if any. */
  name?: string;
  /** The FROM instruction. */
  from: Instruction;
  /** The base after global-ARG expansion: an image ref, "scratch", or a stage (see baseStage). */
  base: string;
  /** Index of the stage FROM refers to, if it is an earlier stage. */
  baseStage?: number;
  instructions: Instruction[];
  /** Indices of the stages this one needs (base stage and COPY --from stages). */
  deps: Set<number>;
}

export interface Plan {
  globalArgs: Instruction[];
  /** Values of the global ARGs (defaults overridden by build args), plus the predefined platform args. */
  globalArgValues: Map<string, string>;
  stages: Stage[];
  /** The stage whose image is the result. */
  target: number;
  /** Stages the target needs, in an order where dependencies come first. */
  order: number[];
}

/** The platform strata builds for: this machine's. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[os.arch()] ?? os.arch();
  return { os: 'linux', architecture: arch, variant: arch === 'arm64' ? 'v8' : undefined };
}

/** The predefined platform ARGs (BuildKit's automatic platform args). */
export function predefinedArgs(): Map<string, string> {
  const p = hostPlatform();
  const plat = `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
  const m = new Map<string, string>();
  for (const pre of ['BUILD', 'TARGET']) {
    m.set(`${pre}PLATFORM`, plat);
    m.set(`${pre}OS`, p.os);
    m.set(`${pre}ARCH`, p.architecture);
    m.set(`${pre}VARIANT`, p.variant ?? '');
  }
  return m;
}

/** Parses an ARG instruction into (name, raw default or undefined) pairs. */
export function argPairs(ins: Instruction): Array<{ name: string; value?: string }> {
  const out: Array<{ name: string; value?: string }> = [];
  for (const w of splitWords(ins.args, ins.escape)) {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidInput(`${at(ins)}: ARG: invalid name ${JSON.stringify(name)}`);
    out.push(eq < 0 ? { name } : { name, value: w.slice(eq + 1) });
  }
  return out;
}

/** Splits "FROM image [AS name]". */
function fromParts(ins: Instruction): { image: string; name?: string } {
  const words = splitWords(ins.args, ins.escape);
  if (words.length === 1) return { image: words[0]! };
  if (words.length === 3 && words[1]!.toLowerCase() === 'as') {
    if (!/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(words[2]!)) throw new InvalidInput(`${at(ins)}: invalid stage name ${JSON.stringify(words[2])}`);
    return { image: words[0]!, name: words[2]!.toLowerCase() };
  }
  throw new InvalidInput(`${at(ins)}: FROM requires either one or three arguments (FROM IMAGE [AS NAME])`);
}

/** Finds a stage by name or index among those before `before`. */
export function findStage(stages: readonly Stage[], ref: string, before: number): number | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.findIndex((s, i) => i < before && s.name === lower);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(ref)) {
    const n = Number(ref);
    if (n < before) return n;
  }
  return undefined;
}

/**
 * Builds the plan. `buildArgs` are --build-arg values; `target` a stage name
 * (NotFound if no stage has it). `imageExists` answers whether a COPY --from
 * name that is no stage is an image in the store (else NotFound at plan time).
 */
export function makePlan(df: ParsedDockerfile, buildArgs: ReadonlyMap<string, string>, target?: string): Plan {
  const ins = df.instructions;
  const firstFrom = ins.findIndex((i) => i.keyword === 'FROM');
  if (firstFrom < 0) {
    const where = ins[0] ? at(ins[0]) : 'Dockerfile';
    throw new InvalidInput(`${where}: no FROM instruction: a Dockerfile must start with FROM (after global ARGs)`);
  }
  const globalArgs = ins.slice(0, firstFrom);
  for (const g of globalArgs) {
    if (g.keyword !== 'ARG') throw new InvalidInput(`${at(g)}: ${g.keyword} before the first FROM: only ARG may come before FROM`);
  }
  const globalArgValues = predefinedArgs();
  for (const g of globalArgs) {
    for (const { name, value } of argPairs(g)) {
      const v = buildArgs.get(name) ?? (value === undefined ? undefined : expandWord(value, globalArgValues, { escape: g.escape }));
      if (v !== undefined) globalArgValues.set(name, v);
      else globalArgValues.delete(name);
    }
  }

  const stages: Stage[] = [];
  for (let i = firstFrom; i < ins.length; i++) {
    const cur = ins[i]!;
    if (cur.keyword === 'FROM') {
      const { image, name } = fromParts(cur);
      const base = expandWord(image, globalArgValues, { escape: cur.escape });
      if (base === '') throw new InvalidInput(`${at(cur)}: FROM: base name ${JSON.stringify(image)} expands to an empty string`);
      const index = stages.length;
      const baseStage = findStage(stages, base, index);
      stages.push({ index, name, from: cur, base, baseStage, instructions: [], deps: new Set(baseStage === undefined ? [] : [baseStage]) });
    } else {
      stages[stages.length - 1]!.instructions.push(cur);
    }
  }

  // COPY --from dependencies, with the stage's ARGs expanded statically.
  for (const stage of stages) {
    const scope = new Map<string, string>();
    for (const cur of stage.instructions) {
      if (cur.keyword === 'ARG') {
        for (const { name, value } of argPairs(cur)) {
          const v = buildArgs.get(name) ?? (value === undefined ? globalArgValues.get(name) : expandWord(value, scope, { escape: cur.escape }));
          scope.set(name, v ?? '');
        }
      }
      if (cur.keyword === 'ENV') {
        // ENV can shadow an ARG used in --from; values only matter for names.
        for (const w of splitWords(cur.args, cur.escape)) {
          const eq = w.indexOf('=');
          if (eq > 0) scope.set(expandWord(w.slice(0, eq), scope, { escape: cur.escape }), expandWord(w.slice(eq + 1), scope, { escape: cur.escape }));
        }
      }
      const from = cur.flags.get('from');
      if ((cur.keyword === 'COPY' || cur.keyword === 'ADD') && from !== undefined) {
        const ref = expandWord(from, scope, { escape: cur.escape });
        const dep = findStage(stages, ref, stage.index);
        if (dep !== undefined) stage.deps.add(dep);
      }
    }
  }

  let targetIndex = stages.length - 1;
  if (target !== undefined && target !== '') {
    const t = stages.findIndex((s) => s.name === target.toLowerCase());
    if (t < 0) throw new NotFound(`target stage "${target}" could not be found (stages: ${stages.map((s) => s.name ?? String(s.index)).join(', ')})`);
    targetIndex = t;
  }
  const order: number[] = [];
  const seen = new Set<number>();
  const visit = (i: number): void => {
    if (seen.has(i)) return;
    seen.add(i);
    for (const d of [...stages[i]!.deps].sort((a, b) => a - b)) visit(d);
    order.push(i);
  };
  visit(targetIndex);
  return { globalArgs, globalArgValues, stages, target: targetIndex, order };
}
