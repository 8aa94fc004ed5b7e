import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findCredentials, removeCredentials, saveCredentials } from '../src/credentials.ts';

test('strata login credentials are stored 0600 and found again', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-creds-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const files = { authFile: path.join(dir, 'strata', 'auth.json'), dockerConfig: path.join(dir, 'docker.json') };
  await saveCredentials('127.0.0.1:5000', { username: 'alice', password: 'p:ss' }, files);
  const st = await fs.stat(files.authFile);
  t.is(st.mode & 0o777, 0o600);
  t.deepEqual(await findCredentials('127.0.0.1:5000', files), { username: 'alice', password: 'p:ss' });
  t.is(await findCredentials('127.0.0.1:5001', files), null);
  t.true(await removeCredentials('127.0.0.1:5000', files));
  t.is(await findCredentials('127.0.0.1:5000', files), null);
});

test('docker config.json auths are read, URL keys included', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-creds-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const dockerConfig = path.join(dir, 'config.json');
  await fs.writeFile(dockerConfig, JSON.stringify({
    auths: {
      'https://reg.example.com/v1/': { auth: Buffer.from('bob:secret').toString('base64') },
      'other.example.com:5000': { username: 'carol', password: 'pw' },
    },
  }));
  const files = { authFile: path.join(dir, 'none.json'), dockerConfig };
  t.deepEqual(await findCredentials('reg.example.com', files), { username: 'bob', password: 'secret' });
  t.deepEqual(await findCredentials('other.example.com:5000', files), { username: 'carol', password: 'pw' });
  await fs.writeFile(dockerConfig, '{not json');
  await t.throwsAsync(findCredentials('reg.example.com', files), { message: /config\.json: invalid credentials file/ });
});
