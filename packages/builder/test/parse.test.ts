import test from 'ava';
import { InvalidInput, NotFound } from '@strata/common';
import { parseDockerfile, parseJsonForm } from '../src/parse.ts';
import { makePlan } from '../src/plan.ts';

test('continuations: comments and blank lines skipped, whitespace-only lines kept', (t) => {
  const df = parseDockerfile('# escape=`\nFROM a\nRUN echo "hi `\n `\n world `\n`\n good`\n`\nnight" > /c2.txt\nRUN echo "hello `\n# c\n\nmore"\n');
  t.is(df.escape, '`');
  t.is(df.instructions[1]!.args, 'echo "hi   world  goodnight" > /c2.txt');
  t.is(df.instructions[2]!.args, 'echo "hello more"');
  t.is(df.instructions[2]!.line, 10);
});

test('unknown instruction names file and line', (t) => {
  const err = t.throws(() => parseDockerfile('FROM a\n\nBOGUS nope\n', 'ctx/Dockerfile'), { instanceOf: InvalidInput });
  t.regex(err!.message, /ctx\/Dockerfile:3: unknown instruction: BOGUS/);
});

test('a string flag without = is a syntax error, not a source', (t) => {
  const err = t.throws(() => parseDockerfile('FROM a\nCOPY --chown 1:2 f /tmp\n'), { instanceOf: InvalidInput });
  t.regex(err!.message, /Dockerfile:2: missing a value on flag: --chown/);
  t.throws(() => parseDockerfile('FROM a\nCOPY --bogus=1 f /tmp\n'), { message: /unknown flag: --bogus/ });
});

test('flags and heredocs are split off', (t) => {
  const df = parseDockerfile('FROM a\nCOPY --chmod=777 --from=b <<EOF <<-E2 /dest/\nx\nEOF\n\ty\n\tE2\nRUN <<EOF sh\necho $HOME\nEOF\n');
  const cp = df.instructions[1]!;
  t.is(cp.flags.get('chmod'), '777');
  t.is(cp.flags.get('from'), 'b');
  t.is(cp.args, '<<EOF <<-E2 /dest/');
  t.deepEqual(cp.heredocs.map((h) => [h.name, h.content, h.chomp]), [['EOF', 'x\n', false], ['E2', 'y\n', true]]);
  t.is(df.instructions[2]!.heredocs[0]!.content, 'echo $HOME\n');
});

test('exec form detection', (t) => {
  t.deepEqual(parseJsonForm('["/bin/sh", "-c"]'), ['/bin/sh', '-c']);
  t.is(parseJsonForm('[ not json'), null);
  t.is(parseJsonForm('echo hi'), null);
});

test('plan: stages, ARG-expanded references, target pruning', (t) => {
  const df = parseDockerfile([
    'ARG SRC=a', 'ARG my_env=a', 'FROM img AS a', 'RUN x', 'FROM img AS b', 'FROM img AS stage_a',
    'FROM stage_${my_env} AS stage_b', 'FROM img', 'ARG SRC=b', 'COPY --from=$SRC /f /', 'COPY --from=stage_b /s /',
  ].join('\n'));
  const p = makePlan(df, new Map());
  t.is(p.stages.length, 5);
  t.is(p.stages[3]!.baseStage, 2);
  t.deepEqual([...p.stages[4]!.deps].sort(), [1, 3]);
  t.deepEqual(p.order, [1, 2, 3, 4]);
  const p2 = makePlan(df, new Map(), 'stage_b');
  t.deepEqual(p2.order, [2, 3]);
  t.throws(() => makePlan(df, new Map(), 'nosuchtarget'), { instanceOf: NotFound, message: /target stage "nosuchtarget" could not be found/ });
});

test('plan: global ARGs feed FROM, build args override, predefined platform args exist', (t) => {
  const df = parseDockerfile('ARG BASE=busybox\nARG VERSION=latest\nFROM ${BASE}:${VERSION}\n');
  t.is(makePlan(df, new Map([['VERSION', '1']])).stages[0]!.base, 'busybox:1');
  t.truthy(makePlan(df, new Map()).globalArgValues.get('TARGETARCH'));
  t.throws(() => makePlan(parseDockerfile('RUN x\nFROM a\n'), new Map()), { message: /Dockerfile:1: RUN before the first FROM/ });
});
