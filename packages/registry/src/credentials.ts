// Where registry credentials come from, first match wins:
//   1. strata's own file, written by `strata login`: $XDG_CONFIG_HOME/strata/auth.json
//      (default ~/.config/strata/auth.json), mode 0600, {"auths": {"host:port": {"auth": base64(user:pass)}}}
//      — the same shape as Docker's so either file can be copied to the other.
//   2. Docker's $DOCKER_CONFIG/config.json (default ~/.docker/config.json) `auths`,
//      whose keys may be bare hosts or URLs like "https://host/v1/".
// Only inline `auth` / `username`+`password` / `identitytoken` entries are
// read; credential helpers (credsStore) are not run.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidInput, isErrno } from '@strata/common';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialFiles {
  /** strata's auth file; default from XDG_CONFIG_HOME. */
  authFile?: string;
  /** Docker's config.json; default from DOCKER_CONFIG. */
  dockerConfig?: string;
}

export function defaultAuthFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'strata', 'auth.json');
}

export function defaultDockerConfig(): string {
  const base = process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  return path.join(base, 'config.json');
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}
interface AuthFile {
  auths?: Record<string, AuthEntry>;
  [k: string]: unknown;
}

async function readAuthFile(file: string): Promise<AuthFile | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as AuthFile;
  } catch (err) {
    throw new InvalidInput(`${file}: invalid credentials file: ${(err as Error).message}`);
  }
}

/** "https://host:5000/v1/" and "host:5000" both name registry "host:5000". */
function keyToRegistry(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function decode(entry: AuthEntry, file: string, key: string): Credentials | null {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (entry.identitytoken) return { username: '<token>', password: entry.identitytoken };
  if (entry.auth) {
    const raw = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = raw.indexOf(':');
    if (colon < 0) throw new InvalidInput(`${file}: auths.${key}.auth is not base64 of user:password`);
    return { username: raw.slice(0, colon), password: raw.slice(colon + 1) };
  }
  return null;
}

/** Credentials for `registry` (host or host:port), or null for anonymous access. */
export async function findCredentials(registry: string, files: CredentialFiles = {}): Promise<Credentials | null> {
  const want = registry.toLowerCase();
  for (const file of [files.authFile ?? defaultAuthFile(), files.dockerConfig ?? defaultDockerConfig()]) {
    const parsed = await readAuthFile(file);
    for (const [key, entry] of Object.entries(parsed?.auths ?? {})) {
      if (keyToRegistry(key) === want) {
        const c = decode(entry, file, key);
        if (c) return c;
      }
    }
  }
  return null;
}

/**
 * Stores credentials for `registry` in strata's auth file. The file is
 * written to a temp name with mode 0600 and renamed, so it is never readable
 * by others, not even for a moment, and never half-written.
 */
export async function saveCredentials(registry: string, creds: Credentials, files: CredentialFiles = {}): Promise<string> {
  const file = files.authFile ?? defaultAuthFile();
  const parsed = (await readAuthFile(file)) ?? {};
  const auths = { ...(parsed.auths ?? {}) };
  auths[registry.toLowerCase()] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writePrivate(file, JSON.stringify({ ...parsed, auths }, null, 2) + '\n');
  return file;
}

/** Removes credentials for `registry`; returns false if there were none. */
export async function removeCredentials(registry: string, files: CredentialFiles = {}): Promise<boolean> {
  const file = files.authFile ?? defaultAuthFile();
  const parsed = await readAuthFile(file);
  const key = Object.keys(parsed?.auths ?? {}).find((k) => keyToRegistry(k) === registry.toLowerCase());
  if (!parsed || key === undefined) return false;
  const auths = { ...parsed.auths };
  delete auths[key];
  await writePrivate(file, JSON.stringify({ ...parsed, auths }, null, 2) + '\n');
  return true;
}

async function writePrivate(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}
