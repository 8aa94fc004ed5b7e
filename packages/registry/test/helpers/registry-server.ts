// Test harness: runs Debian's distribution registry (/usr/bin/docker-registry)
// on a free loopback port with filesystem storage in a temp dir, optionally
// behind htpasswd basic auth or a bearer token service. Callers must stop()
// it in test.after.always.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';

export interface RegistryServerOptions {
  /** Require HTTP basic auth with this user (bcrypt htpasswd file). */
  htpasswd?: { user: string; password: string };
  /** Require bearer tokens from this realm, signed by the key of `certFile`. */
  token?: { realm: string; service: string; issuer: string; certFile: string };
  /** Storage directory to reuse (e.g. after a kill); a new temp dir otherwise. */
  dataDir?: string;
  /** Port to listen on; a free one otherwise. */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  address?: string;
  /** Serve HTTPS with this certificate and key. */
  tls?: { certFile: string; keyFile: string };
}

export interface RegistryServer {
  readonly port: number;
  /** "ADDRESS:PORT" (127.0.0.1 by default), the registry part of references. */
  readonly host: string;
  readonly dataDir: string;
  readonly options: RegistryServerOptions;
  /** SIGKILLs the process (a crash, not a shutdown) and waits for it to exit. */
  kill(): Promise<void>;
  /** Stops it and removes the temp dirs it made. */
  stop(): Promise<void>;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once GET url answers with any HTTP status (certificates not checked). */
export async function waitHttp(url: string, timeoutMs = 15_000, child?: ChildProcess): Promise<void> {
  const get = url.startsWith('https:') ? (u: string, cb: (res: http.IncomingMessage) => void) => https.get(u, { rejectUnauthorized: false }, cb) : http.get;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = get(url, (res) => { res.resume(); resolve(true); });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => { req.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url}: no answer after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRegistry(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const confDir = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-registry-conf-'));
  const ownData = options.dataDir === undefined;
  const dataDir = options.dataDir ?? await fs.mkdtemp(path.join(os.tmpdir(), 'strata-registry-data-'));
  const port = options.port ?? await freePort();
  const address = options.address ?? '127.0.0.1';
  const tls = options.tls ? `  tls:\n    certificate: ${options.tls.certFile}\n    key: ${options.tls.keyFile}\n` : '';
  let auth = '';
  if (options.htpasswd) {
    const { stdout } = await run('htpasswd', ['-Bbn', options.htpasswd.user, options.htpasswd.password]);
    await fs.writeFile(path.join(confDir, 'htpasswd'), stdout);
    auth = `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${path.join(confDir, 'htpasswd')}\n`;
  } else if (options.token) {
    const t = options.token;
    auth = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.certFile}\n`;
  }
  // A fixed http.secret keeps upload sessions valid across a restart on the same storage.
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dataDir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${address}:${port}
  secret: strata-test-secret
${tls}${auth}`;
  const configFile = path.join(confDir, 'config.yml');
  await fs.writeFile(configFile, config);
  const child = spawn('/usr/bin/docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitHttp(`${options.tls ? 'https' : 'http'}://${address}:${port}/v2/`, 15_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not start: ${(err as Error).message}\n${stderr}`);
  }
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    host: `${address}:${port}`,
    dataDir,
    options,
    kill,
    async stop() {
      await kill();
      await fs.rm(confDir, { recursive: true, force: true });
      if (ownData) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
