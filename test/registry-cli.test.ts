// `strata push` / `strata pull` end to end through the CLI, against a
// registry in bearer-token mode, with credentials from ~/.docker/config.json.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../packages/common/src/index.ts';
import { openStore } from '../packages/store/src/index.ts';
import { startRegistry, type RegistryServer } from '../packages/registry/test/helpers/registry-server.ts';
import { startTokenServer, type TokenServer } from '../packages/registry/test/helpers/token-server.ts';
import { makeImage } from '../packages/registry/test/helpers/images.ts';

const USER = { user: 'builder', password: 'pa55word' };
const strata = path.resolve('packages/cli/bin/strata.js');
let tokens: TokenServer;
let reg: RegistryServer;
let work: string;

test.before(async () => {
  tokens = await startTokenServer(USER);
  reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile } });
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-regcli-'));
});
test.after.always(async () => {
  await reg?.stop();
  await tokens?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function dockerConfig(name: string, password: string): Promise<NodeJS.ProcessEnv> {
  const dir = path.join(work, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER.user}:${password}`).toString('base64') } } }));
  return { ...process.env, DOCKER_CONFIG: dir, XDG_CONFIG_HOME: path.join(work, `${name}-xdg`) };
}

test.serial('push and pull with the CLI: digests kept, plain progress lines when not a terminal', async (t) => {
  const env = await dockerConfig('good', USER.password);
  const src = path.join(work, 'src-root');
  const store = await openStore(src);
  const local = await makeImage(store, 'localhost/app:1', [{ files: { 'app/main.sh': 'echo hi\n' } }, { files: { 'app/blob': 300_000 }, gzip: true }]);

  const push = await run('node', [strata, '--root', src, 'push', 'localhost/app:1', `${reg.host}/team/app:1`], { env });
  t.is(push.stdout.trim(), `${reg.host}/team/app:1@${local.digest}`);
  t.regex(push.stderr, /^[0-9a-f]{12}: pushed \(/m);
  t.notRegex(push.stderr, /\x1b\[/, 'no terminal escapes in a pipe');

  const dest = path.join(work, 'dest-root');
  const pull = await run('node', [strata, '--root', dest, 'pull', `${reg.host}/team/app:1`], { env });
  t.is(pull.stdout.trim(), `${reg.host}/team/app:1@${local.digest}`);
  t.regex(pull.stderr, /: downloaded \(/);
  const pulled = await (await openStore(dest)).resolve(`${reg.host}/team/app:1`);
  t.is(pulled.manifestDescriptor.digest, local.digest);

  const json = await run('node', [strata, '--root', dest, '--json', 'pull', `${reg.host}/team/app@${local.digest}`], { env });
  const j = JSON.parse(json.stdout) as { digest: string; fetched: string[] };
  t.is(j.digest, local.digest);
  t.deepEqual(j.fetched, [], 'everything already present');
});

test.serial('bad credentials: one clear error, exit 1, no retry storm', async (t) => {
  const env = await dockerConfig('bad', 'not-the-password');
  const before = tokens.requests.length;
  const r = await run('node', [strata, '--root', path.join(work, 'bad-root'), 'pull', `${reg.host}/team/app:1`], { env, allowFailure: true });
  t.is(r.code, 1);
  t.regex(r.stderr, /rejected the credentials of user "builder"/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.is(tokens.requests.length - before, 1);
});

test.serial('bad references and options are usage errors', async (t) => {
  const r = await run('node', [strata, 'pull', 'busybox'], { allowFailure: true });
  t.is(r.code, 2);
  t.regex(r.stderr, /no registry host/);
  const c = await run('node', [strata, 'push', '--concurrency', '0', 'a', `${reg.host}/x:1`], { allowFailure: true });
  t.is(c.code, 2);
});

test.serial('strata login speaks the bearer flow too, and a wrong password is refused at login', async (t) => {
  const env = { ...process.env, XDG_CONFIG_HOME: path.join(work, 'login-xdg'), DOCKER_CONFIG: path.join(work, 'login-docker') };
  const bad = await run('node', [strata, 'login', '-u', USER.user, '--password-stdin', reg.host], { env, input: 'nope\n', allowFailure: true });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /token service .* rejected the credentials of user "builder"/);
  const good = await run('node', [strata, 'login', '-u', USER.user, '--password-stdin', reg.host], { env, input: `${USER.password}\n` });
  t.regex(good.stdout, /Login succeeded/);
  // The stored credentials then serve a pull with no docker config at all.
  const pull = await run('node', [strata, '--root', path.join(work, 'login-root'), 'pull', `${reg.host}/team/app:1`], { env });
  t.regex(pull.stdout, new RegExp(`^${reg.host.replace(/\./g, '\\.')}/team/app:1@sha256:`));
});
