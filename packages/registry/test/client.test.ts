// The distribution-spec client against a real docker-registry: blob upload
// (monolithic and chunked), existence checks, cross-repo mount, manifests,
// resume and corruption through a fault proxy, and the three auth modes.
import test from 'ava';
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { DigestMismatch, sha256, type Digest } from '@strata/common';
import { RegistryClient } from '../src/client.ts';
import { blobExists, fetchBlob, mountBlob, uploadBlob } from '../src/blobs.ts';
import { getManifest, putManifest } from '../src/manifests.ts';
import { RegistryError, Unauthorized } from '../src/errors.ts';
import { startRegistry, type RegistryServer } from './helpers/registry-server.ts';
import { startTokenServer, type TokenServer } from './helpers/token-server.ts';
import { startProxy, type Proxy } from './helpers/proxy.ts';

const USER = { user: 'strata', password: 'correct horse' };
let plain: RegistryServer;
let basic: RegistryServer;
let tokens: TokenServer;
let bearer: RegistryServer;
const proxies: Proxy[] = [];

test.before(async () => {
  tokens = await startTokenServer(USER);
  [plain, basic, bearer] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: USER }),
    startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile } }),
  ]);
});

test.after.always(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all([plain?.stop(), basic?.stop(), bearer?.stop()]);
  await tokens?.stop();
});

function blob(size: number): { data: Buffer; digest: Digest; size: number } {
  const data = crypto.randomBytes(size);
  return { data, digest: sha256(data), size };
}

function sink(): { stream: PassThrough; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, bytes: () => Buffer.concat(chunks) };
}

const anon = { credentials: null, retries: 1, backoffMs: 20 } as const;

test('monolithic and chunked uploads, HEAD, mount, and download', async (t) => {
  const c = new RegistryClient(plain.host, anon);
  t.teardown(() => c.close());
  const a = blob(300_000);
  const b = blob(1_000_003);
  t.false(await blobExists(c, 'up/one', a.digest));
  await uploadBlob(c, 'up/one', a, () => Readable.from([a.data]));
  await uploadBlob(c, 'up/one', b, () => Readable.from([b.data.subarray(0, 1000), b.data.subarray(1000)]), { chunkSize: 256 * 1024 });
  t.true(await blobExists(c, 'up/one', a.digest));
  t.true(await blobExists(c, 'up/one', b.digest));
  t.true(c.log.filter((l) => l.startsWith('PATCH')).length >= 4, 'chunked upload used several PATCHes');

  // Cross-repository mount: the blob appears in another repo without a byte sent.
  t.false(await blobExists(c, 'up/two', b.digest));
  const before = c.log.length;
  t.true(await mountBlob(c, 'up/two', b.digest, 'up/one'));
  t.deepEqual(c.log.slice(before).map((l) => l.split(' ')[0]), ['POST']);
  t.true(await blobExists(c, 'up/two', b.digest));
  // Mounting from a repo that lacks the blob is declined, not an error.
  t.false(await mountBlob(c, 'up/three', b.digest, 'nope/nothing'));

  const s = sink();
  await fetchBlob(c, 'up/two', b, s.stream);
  t.true(s.bytes().equals(b.data));
});

test('manifests round-trip byte for byte and are verified by digest', async (t) => {
  const c = new RegistryClient(plain.host, anon);
  t.teardown(() => c.close());
  const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  await uploadBlob(c, 'man/a', { digest: sha256(cfg), size: cfg.length }, () => Readable.from([cfg]));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
    layers: [],
  }, null, 3));
  const d = await putManifest(c, 'man/a', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
  t.is(d, sha256(manifest));
  const byTag = await getManifest(c, 'man/a', 'v1');
  t.true(byTag.bytes.equals(manifest));
  t.is(byTag.digest, d);
  t.is(byTag.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const byDigest = await getManifest(c, 'man/a', d);
  t.true(byDigest.bytes.equals(manifest));
});

test('a download cut off mid-blob resumes with a Range request', async (t) => {
  const proxy = await startProxy(plain.port);
  proxies.push(proxy);
  const c = new RegistryClient(proxy.host, anon);
  t.teardown(() => c.close());
  const b = blob(2_000_000);
  await uploadBlob(c, 'resume/a', b, () => Readable.from([b.data]));
  proxy.faults = { dropBlob: { digest: b.digest, afterBytes: 700_000, times: 1 } };
  const s = sink();
  await fetchBlob(c, 'resume/a', b, s.stream);
  t.true(s.bytes().equals(b.data));
  const gets = proxy.requests.filter((r) => r.startsWith(`GET /v2/resume/a/blobs/${b.digest}`));
  t.deepEqual(gets.map((r) => r.split(' ')[2]), ['200', '206'], 'second GET was a ranged one');
});

test('a corrupted byte fails the download with a digest error naming the blob', async (t) => {
  const proxy = await startProxy(plain.port);
  proxies.push(proxy);
  const c = new RegistryClient(proxy.host, anon);
  t.teardown(() => c.close());
  const b = blob(500_000);
  await uploadBlob(c, 'corrupt/a', b, () => Readable.from([b.data]));
  proxy.faults = { corruptBlob: b.digest };
  const e = await t.throwsAsync(fetchBlob(c, 'corrupt/a', b, sink().stream), { instanceOf: DigestMismatch });
  t.true(e!.message.includes(b.digest), e!.message);
  t.regex(e!.message, /corrupt\/a/);
});

test('HTTP basic: stored credentials work; bad ones fail at once with a clear message', async (t) => {
  const good = new RegistryClient(basic.host, { credentials: { username: USER.user, password: USER.password } });
  t.teardown(() => good.close());
  const b = blob(10_000);
  await uploadBlob(good, 'basic/a', b, () => Readable.from([b.data]));
  t.true(await blobExists(good, 'basic/a', b.digest));

  const proxy = await startProxy(basic.port);
  proxies.push(proxy);
  const bad = new RegistryClient(proxy.host, { credentials: { username: USER.user, password: 'wrong' }, retries: 4 });
  t.teardown(() => bad.close());
  const e = await t.throwsAsync(blobExists(bad, 'basic/a', b.digest), { instanceOf: Unauthorized });
  t.regex(e!.message, /credentials of user "strata" were rejected/);
  t.regex(e!.message, /strata login 127\.0\.0\.1:\d+/);
  t.is(proxy.requests.length, 2, `no retry storm: ${proxy.requests.join(', ')}`);

  const none = new RegistryClient(basic.host, anon);
  t.teardown(() => none.close());
  await t.throwsAsync(none.ping(), { instanceOf: Unauthorized, message: /authentication required.*strata login/ });
});

test('bearer token flow: scopes are requested, tokens reused, bad credentials fail once', async (t) => {
  const good = new RegistryClient(bearer.host, { credentials: { username: USER.user, password: USER.password } });
  t.teardown(() => good.close());
  const b = blob(20_000);
  const n0 = tokens.requests.length;
  await uploadBlob(good, 'tok/a', b, () => Readable.from([b.data]));
  t.true(await blobExists(good, 'tok/a', b.digest, true));
  const s = sink();
  await fetchBlob(good, 'tok/a', b, s.stream);
  t.true(s.bytes().equals(b.data));
  const mine = tokens.requests.slice(n0);
  t.true(mine.every((r) => r.granted && r.user === USER.user));
  t.true(mine.some((r) => r.scopes.includes('repository:tok/a:pull,push')));
  t.true(mine.some((r) => r.scopes.includes('repository:tok/a:pull')));
  t.true(mine.length <= 3, `tokens are cached per scope: ${JSON.stringify(mine)}`);

  const n1 = tokens.requests.length;
  const bad = new RegistryClient(bearer.host, { credentials: { username: USER.user, password: 'nope' }, retries: 4 });
  t.teardown(() => bad.close());
  const e = await t.throwsAsync(blobExists(bad, 'tok/a', b.digest), { instanceOf: Unauthorized });
  t.regex(e!.message, /rejected the credentials of user "strata"/);
  t.is(tokens.requests.length - n1, 1, 'one token request, no retries');

  const anonymous = new RegistryClient(bearer.host, anon);
  t.teardown(() => anonymous.close());
  await t.throwsAsync(blobExists(anonymous, 'tok/a', b.digest), { instanceOf: Unauthorized, message: /anonymous.*strata login/ });
});

test('5xx answers and reset connections are retried with backoff; 4xx are not', async (t) => {
  const proxy = await startProxy(plain.port);
  proxies.push(proxy);
  const c = new RegistryClient(proxy.host, { credentials: null, retries: 3, backoffMs: 10 });
  t.teardown(() => c.close());
  const b = blob(50_000);
  proxy.faults = { failFirst: { match: '/blobs/uploads/', times: 2, mode: '503' } };
  await uploadBlob(c, 'retry/a', b, () => Readable.from([b.data]));
  t.deepEqual(proxy.requests.filter((r) => r.startsWith('POST')).map((r) => r.split(' ')[2]), ['503', '503', '202']);

  proxy.faults = { failFirst: { match: `/blobs/${b.digest}`, times: 2, mode: 'reset' } };
  const s = sink();
  await fetchBlob(c, 'retry/a', b, s.stream);
  t.true(s.bytes().equals(b.data));
  t.is(proxy.requests.filter((r) => r.includes(b.digest) && r.endsWith(' reset')).length, 2);

  // Retries run out: the error says how often it tried.
  proxy.faults = { failFirst: { match: '/manifests/', times: 100, mode: '503' } };
  const n = proxy.requests.length;
  const e = await t.throwsAsync(getManifest(c, 'retry/a', 'latest'), { instanceOf: RegistryError });
  t.regex(e!.message, /503.*after 3 retries/);
  t.is(proxy.requests.length - n, 4);

  // A 404 is an answer, not a failure to retry.
  proxy.faults = {};
  const m = proxy.requests.length;
  await t.throwsAsync(getManifest(c, 'retry/a', 'nope'), { instanceOf: RegistryError, message: /404/ });
  t.is(proxy.requests.length - m, 1);
});
