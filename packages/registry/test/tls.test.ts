// Transport security: a registry on a non-loopback address is spoken to
// over TLS (system CAs plus --ca-cert), and over plain HTTP only when named
// with --insecure-registry.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { RegistryClient } from '../src/client.ts';
import { RegistryError } from '../src/errors.ts';
import { startRegistry, type RegistryServer } from './helpers/registry-server.ts';

// The first non-loopback IPv4 address of this machine, if it has one.
const address = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
const servers: RegistryServer[] = [];
let dir: string;

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-tls-'));
});
test.after.always(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

// Without a non-loopback interface there is nothing to test; say so loudly.
const withAddress = address ? test : test.skip;

withAddress('TLS with --ca-cert works; without it the certificate is refused', async (t) => {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', `/CN=${address}`, '-addext', `subjectAltName=IP:${address}`]);
  const reg = await startRegistry({ address, tls: { certFile, keyFile } });
  servers.push(reg);
  const trusted = new RegistryClient(reg.host, { credentials: null, caCerts: [certFile], retries: 0 });
  t.teardown(() => trusted.close());
  t.is(trusted.baseUrl.protocol, 'https:');
  await t.notThrowsAsync(trusted.ping());
  const untrusted = new RegistryClient(reg.host, { credentials: null, retries: 0 });
  t.teardown(() => untrusted.close());
  await t.throwsAsync(untrusted.ping(), { instanceOf: RegistryError, message: /self[- ]signed certificate/ });
});

withAddress('plain HTTP to a non-loopback host only with --insecure-registry', async (t) => {
  const reg = await startRegistry({ address });
  servers.push(reg);
  const strict = new RegistryClient(reg.host, { credentials: null, retries: 0 });
  t.teardown(() => strict.close());
  t.is(strict.baseUrl.protocol, 'https:');
  await t.throwsAsync(strict.ping(), { instanceOf: RegistryError });
  const insecure = new RegistryClient(reg.host, { credentials: null, insecureRegistries: [reg.host], retries: 0 });
  t.teardown(() => insecure.close());
  t.is(insecure.baseUrl.protocol, 'http:');
  await t.notThrowsAsync(insecure.ping());
});
