import test from 'ava';
import { expandWord, expandWords, splitWords } from '../src/shell-lex.ts';

const env = new Map([['foo', 'zzz'], ['empty', ''], ['two', 'a b']]);

test('quotes and escapes follow Docker (case 07 values)', (t) => {
  t.is(expandWord("'$foo'", env), '$foo');
  t.is(expandWord('"\\$foo"', env), '$foo');
  t.is(expandWord('"abc\\def"', env), 'abc\\def');
  t.is(expandWord('"abc\\\\def"', env), 'abc\\def');
  t.is(expandWord("'abc\\\\def'", env), 'abc\\\\def');
  t.is(expandWord('abc\\$foo', env), 'abc$foo');
  t.is(expandWord('$foo${foo}"$foo"', env), 'zzzzzzzzz');
});

test('modifiers :- :+ - + and unset variables', (t) => {
  t.is(expandWord('${undefined:-dflt}', env), 'dflt');
  t.is(expandWord('${foo:+alt}', env), 'alt');
  t.is(expandWord('${undefined:+alt}x', env), 'x');
  t.is(expandWord('${empty:-d}', env), 'd');
  t.is(expandWord('${empty-d}', env), '');
  t.is(expandWord('${empty+set}', env), 'set');
  t.is(expandWord('x${nope}y$nope', env), 'xy');
  t.is(expandWord('${undefined:-${foo}}', env), 'zzz');
  t.throws(() => expandWord('${undefined:?needed}', env), { message: /needed/ });
});

test('backtick escape character', (t) => {
  t.is(expandWord('\\go', env, { escape: '`' }), '\\go');
  t.is(expandWord('`$foo', env, { escape: '`' }), '$foo');
});

test('heredoc mode keeps quotes and escapes, expands $', (t) => {
  t.is(expandWord('echo "Hello ${foo}!" \\n', env, { rawQuotes: true, rawEscapes: true }), 'echo "Hello zzz!" \\n');
});

test('word splitting keeps quoted words together', (t) => {
  t.deepEqual(splitWords('"com.example.multi"="a b" two=2   three="3"'), ['"com.example.multi"="a b"', 'two=2', 'three="3"']);
  t.deepEqual(splitWords("a 'b c' d\\ e"), ['a', "'b c'", 'd\\ e']);
  t.deepEqual(expandWords('$two 3000/udp', env), ['a', 'b', '3000/udp']);
  t.deepEqual(expandWords('"$two"', env), ['a b']);
});
