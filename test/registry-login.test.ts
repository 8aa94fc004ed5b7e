// `strata login` / `logout` against a real htpasswd-protected registry.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../packages/common/src/index.ts';
import { startRegistry, type RegistryServer } from '../packages/registry/test/helpers/registry-server.ts';

const USER = { user: 'ci', password: 's3cret pass' };
const strata = path.resolve('packages/cli/bin/strata.js');
let reg: RegistryServer;
let home: string;

test.before(async () => {
  reg = await startRegistry({ htpasswd: USER });
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-login-'));
});
test.after.always(async () => {
  await reg?.stop();
  if (home) await fs.rm(home, { recursive: true, force: true });
});

const env = () => ({ ...process.env, XDG_CONFIG_HOME: path.join(home, 'xdg'), DOCKER_CONFIG: path.join(home, 'docker') });

test.serial('bad password: clear message, non-zero exit, nothing stored', async (t) => {
  const r = await run('node', [strata, 'login', '-u', USER.user, '--password-stdin', reg.host], { env: env(), input: 'wrong\n', allowFailure: true });
  t.not(r.code, 0);
  t.regex(r.stderr, /credentials of user "ci" were rejected/);
  await t.throwsAsync(fs.stat(path.join(home, 'xdg', 'strata', 'auth.json')), { code: 'ENOENT' });
});

test.serial('good password: stored 0600 and usable; logout removes it', async (t) => {
  const r = await run('node', [strata, 'login', '-u', USER.user, '--password-stdin', reg.host], { env: env(), input: `${USER.password}\n` });
  t.regex(r.stdout, /Login succeeded/);
  const file = path.join(home, 'xdg', 'strata', 'auth.json');
  t.is((await fs.stat(file)).mode & 0o777, 0o600);
  const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { auths: Record<string, { auth: string }> };
  t.is(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString(), `${USER.user}:${USER.password}`);
  const out = await run('node', [strata, 'logout', reg.host], { env: env() });
  t.regex(out.stdout, /Removed/);
  const again = await run('node', [strata, 'logout', reg.host], { env: env(), allowFailure: true });
  t.is(again.code, 3);
});

test.serial('a reference-less host is a usage error', async (t) => {
  const r = await run('node', [strata, 'login', '-u', 'x', '-p', 'y', 'not a host'], { env: env(), allowFailure: true });
  t.is(r.code, 2);
});
