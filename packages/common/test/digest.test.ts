import test from 'ava';
import { chainIds, isDigest, parseDigest, sha256 } from '../src/digest.ts';
import { InvalidInput } from '../src/errors.ts';

test('sha256 of the empty string', (t) => {
  t.is(sha256(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('chainIds follow the OCI spec', (t) => {
  const a = sha256('a');
  const b = sha256('b');
  const c = sha256('c');
  const ids = chainIds([a, b, c]);
  t.is(ids[0], a);
  t.is(ids[1], sha256(`${a} ${b}`));
  t.is(ids[2], sha256(`${ids[1]} ${c}`));
});

test('parseDigest refuses malformed digests', (t) => {
  t.true(isDigest(sha256('x')));
  t.throws(() => parseDigest('sha256:XYZ', 'manifest'), { instanceOf: InvalidInput, message: /manifest/ });
  t.throws(() => parseDigest('md5:abc'));
});
