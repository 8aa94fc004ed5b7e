import test from 'ava';
import { UsageError } from '@strata/common';
import { formatReference, isLoopback, parseReference } from '../src/reference.ts';
import { parseChallenges } from '../src/challenge.ts';
import { schemeFor } from '../src/transport.ts';
import { RegistryClient } from '../src/client.ts';

const D = `sha256:${'ab'.repeat(32)}` as const;

test('host, port, repository and tag', (t) => {
  const r = parseReference('127.0.0.1:5000/team/app:v1.2');
  t.is(r.registry, '127.0.0.1:5000');
  t.is(r.hostname, '127.0.0.1');
  t.is(r.repository, 'team/app');
  t.is(r.tag, 'v1.2');
  t.is(r.digest, undefined);
});

test('tag defaults to latest; a digest pins the manifest', (t) => {
  t.is(parseReference('localhost/app').tag, 'latest');
  const r = parseReference(`registry.example.com/app@${D}`);
  t.is(r.digest, D);
  t.is(r.tag, undefined);
  t.is(formatReference(parseReference(`reg.example.com:443/a/b:t@${D}`)), `reg.example.com:443/a/b:t@${D}`);
});

test('a reference without a registry host is refused, naming it', (t) => {
  const e = t.throws(() => parseReference('busybox:latest'), { instanceOf: UsageError });
  t.regex(e!.message, /busybox:latest.*no registry host/);
  t.throws(() => parseReference('library/busybox'), { instanceOf: UsageError });
  t.throws(() => parseReference('127.0.0.1:5000/UPPER'), { instanceOf: UsageError, message: /UPPER/ });
  t.throws(() => parseReference('127.0.0.1:5000/a:bad tag'), { instanceOf: UsageError });
  t.throws(() => parseReference('127.0.0.1:5000/a@sha256:123'), { instanceOf: UsageError, message: /malformed digest/ });
});

test('plain HTTP only for loopback or named insecure hosts', (t) => {
  t.true(isLoopback('127.0.0.1'));
  t.true(isLoopback('localhost'));
  t.true(isLoopback('::1'));
  t.false(isLoopback('10.0.0.1'));
  t.is(schemeFor('127.0.0.1:5000', {}), 'http');
  t.is(schemeFor('localhost:5000', {}), 'http');
  t.is(schemeFor('[::1]:5000', {}), 'http');
  t.is(schemeFor('reg.example.com', {}), 'https');
  t.is(schemeFor('reg.example.com:5000', { insecureRegistries: ['reg.example.com:5000'] }), 'http');
  t.is(schemeFor('reg.example.com:5000', { insecureRegistries: ['reg.example.com'] }), 'http');
  t.is(schemeFor('reg.example.com:5000', { insecureRegistries: ['other.example.com'] }), 'https');
});

test('WWW-Authenticate: bearer with quoted params, basic, and several challenges', (t) => {
  const [b] = parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"');
  t.is(b!.scheme, 'bearer');
  t.deepEqual(b!.params, { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' });
  const cs = parseChallenges('Basic realm="x \\"y\\"", Bearer realm="r",error="insufficient_scope"');
  t.is(cs.length, 2);
  t.is(cs[0]!.params.realm, 'x "y"');
  t.is(cs[1]!.scheme, 'bearer');
  t.is(cs[1]!.params.error, 'insufficient_scope');
  t.deepEqual(parseChallenges(undefined), []);
});

test('docker.io is reached at its API host over TLS', (t) => {
  const c = new RegistryClient('docker.io', { credentials: null });
  t.teardown(() => c.close());
  t.is(c.baseUrl.href, 'https://registry-1.docker.io/');
  t.is(c.registry, 'docker.io');
});
