// A small bearer token service for tests, the other half of the registry's
// `auth: token` mode: it checks HTTP basic credentials, grants the requested
// repository scopes, and signs a JWT (RS256) with a self-signed key whose
// certificate the registry trusts (x5c header -> rootcertbundle).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { freePort } from './registry-server.ts';

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate the registry must trust (rootcertbundle). */
  readonly certFile: string;
  /** Every token request: the scopes asked for and whether it was granted. */
  readonly requests: Array<{ user: string | null; scopes: string[]; granted: boolean }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(user: { user: string; password: string }): Promise<TokenServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-token-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '1', '-subj', '/CN=strata-test-token']);
  const key = crypto.createPrivateKey(await fs.readFile(keyFile));
  const certDer = new crypto.X509Certificate(await fs.readFile(certFile)).raw;
  const service = 'strata-test-registry';
  const issuer = 'strata-test-issuer';
  const requests: TokenServer['requests'] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const auth = req.headers.authorization ?? '';
    let who: string | null = null;
    if (auth.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (u !== user.user || p.join(':') !== user.password) {
        requests.push({ user: u ?? '', scopes, granted: false });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad username or password' }] }));
        return;
      }
      who = u!;
    }
    // Anonymous callers get a token with no access, as public registries do for private repos.
    const access = who === null ? [] : scopes.map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
    requests.push({ user: who, scopes, granted: who !== null });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: who ?? '', aud: service, exp: now + 600, nbf: now - 60, iat: now, jti: crypto.randomUUID(), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = crypto.sign('sha256', Buffer.from(signingInput), key);
    const token = `${signingInput}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 600 }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
