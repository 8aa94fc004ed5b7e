// The overlay semantics, features, the differential test against kernel
// overlayfs and the runc-on-FUSE test again, served by the transport that
// is NOT the default here (the default, native for root, serves them in
// their own files): the same test code, with the transport chosen the way
// users choose it. The servers the tests start read STRATA_FUSE_TRANSPORT
// when they are spawned (at test run time), so setting it after the
// imports still reaches every mount.
import test from 'ava';
import './semantics.test.ts';
import './features.test.ts';
import './differential.test.ts';
import './runc.test.ts';
import { defaultTransport } from '../src/fuse/select.ts';
import { makeStack, mountStrata } from './helpers.ts';
import { serverStats } from './native-stats.ts';

const other = defaultTransport() === 'native' ? 'fuse-native' : 'native';
process.env.STRATA_FUSE_TRANSPORT = other;

test(`the mounts of this run are served by the ${other} transport`, async (t) => {
  const s = makeStack(1);
  await mountStrata(t, s);
  t.is((await serverStats(s.mnt)).transport ?? 'fuse-native', other);
});
