// A client for one registry host: every HTTP exchange of push and pull goes
// through request(), which owns three policies so no caller repeats them:
//   - auth: anonymous first; on 401 it answers the challenge once (Basic with
//     stored credentials, or the Bearer token flow for the request's scopes)
//     and repeats the request. A second 401 is Unauthorized, never retried.
//   - retries: 5xx, 429 and dropped/refused connections are retried with
//     exponential backoff (retries x, base backoffMs); 4xx are not.
//   - redirects: GET/HEAD follow up to 5; credentials never go to another origin.
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseChallenges, type Challenge } from './challenge.ts';
import { findCredentials, type CredentialFiles, type Credentials } from './credentials.ts';
import { RegistryError, Unauthorized } from './errors.ts';
import { drain, isRetryableNetworkError, makeAgents, readAll, schemeFor, send, type Body, type TlsOptions } from './transport.ts';

export interface ClientOptions extends TlsOptions, CredentialFiles {
  /** Credentials to use instead of looking them up (null: anonymous). */
  credentials?: Credentials | null;
  /** Attempts after the first for retryable failures (default 4). */
  retries?: number;
  /** First backoff in ms, doubled each retry (default 250). */
  backoffMs?: number;
}

export interface RequestOptions {
  method: string;
  /** A path under the registry ("/v2/...") or an absolute URL (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: Body;
  /** Token scopes the request needs, e.g. ["repository:a/b:pull"]. */
  scopes?: string[];
  /** Override the client's retry count (0 for requests whose body cannot be replayed). */
  retries?: number;
  /** Statuses the caller handles itself; any other >= 400 becomes a RegistryError. */
  accept?: number[];
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Scope of repository `repo` with actions, for the Bearer token flow. */
export function repoScope(repo: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repo}:${actions}`;
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: URL;
  /** Requests sent, by "METHOD path" (observability for tests and --debug). */
  readonly log: string[] = [];
  private readonly agents: ReturnType<typeof makeAgents>;
  private creds: Credentials | null | undefined;
  private mode: 'anonymous' | 'basic' | 'bearer' = 'anonymous';
  private bearer?: Challenge;
  private readonly tokens = new Map<string, string>();
  /** Retries after the first attempt for retryable failures. */
  readonly retries: number;
  /** First backoff in ms, doubled each retry. */
  readonly backoffMs: number;

  constructor(registry: string, private readonly opts: ClientOptions = {}) {
    this.registry = registry.toLowerCase();
    // Docker Hub's name and its API host differ; credentials stay under the name.
    const apiHost = DOCKER_HUB.has(this.registry) ? 'registry-1.docker.io' : this.registry;
    this.baseUrl = new URL(`${schemeFor(apiHost, opts)}://${apiHost}`);
    this.agents = makeAgents(opts);
    this.creds = opts.credentials;
    this.retries = opts.retries ?? 4;
    this.backoffMs = opts.backoffMs ?? 250;
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async credentials(): Promise<Credentials | null> {
    if (this.creds === undefined) {
      this.creds = await findCredentials(this.registry, this.opts);
      // docker login stores Hub credentials under its v1 index URL.
      if (!this.creds && DOCKER_HUB.has(this.registry)) this.creds = await findCredentials('index.docker.io', this.opts);
    }
    return this.creds;
  }

  /** Checks that the registry speaks the v2 API and our credentials work (for `strata login`). */
  async ping(): Promise<void> {
    const res = await this.request({ method: 'GET', path: '/v2/' });
    await drain(res);
  }

  /**
   * Sends a request with auth, retries and redirects applied. Resolves with
   * the response (body unread) for 2xx/3xx and statuses in `accept`; throws
   * Unauthorized on a rejected 401 and RegistryError for other failures.
   */
  async request(o: RequestOptions): Promise<http.IncomingMessage> {
    const scopes = o.scopes ?? [];
    const retries = o.retries ?? this.retries;
    let url = typeof o.path === 'string' ? new URL(o.path, this.baseUrl) : o.path;
    let attempt = 0;
    let answeredChallenge = false;
    let redirects = 0;
    for (;;) {
      const headers: Record<string, string> = { ...o.headers };
      const sameOrigin = url.origin === this.baseUrl.origin;
      if (sameOrigin) {
        const auth = await this.authHeader(scopes);
        if (auth) headers.authorization = auth;
      }
      let res: http.IncomingMessage;
      try {
        this.log.push(`${o.method} ${url.pathname}`);
        res = await send(this.agents, { method: o.method, url, headers, body: o.body });
      } catch (err) {
        if (isRetryableNetworkError(err) && attempt < retries) {
          await sleep(this.backoff(attempt++));
          continue;
        }
        throw new RegistryError(`${o.method} ${this.describe(url)}: ${(err as Error).message}${attempt ? ` (after ${attempt} retries)` : ''}`, null);
      }
      const status = res.statusCode ?? 0;
      if (status === 401 && sameOrigin && !o.accept?.includes(401)) {
        const body = (await readAll(res).catch(() => Buffer.alloc(0))).toString();
        if (answeredChallenge) throw await this.rejected(url, scopes, body);
        answeredChallenge = true;
        await this.answer(parseChallenges(res.headers['www-authenticate']), scopes, url, body);
        continue;
      }
      if (RETRY_STATUS.has(status) && attempt < retries && !o.accept?.includes(status)) {
        await drain(res);
        await sleep(this.backoff(attempt++, res.headers['retry-after']));
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(status) && (o.method === 'GET' || o.method === 'HEAD') && res.headers.location) {
        await drain(res);
        if (++redirects > 5) throw new RegistryError(`${o.method} ${this.describe(url)}: too many redirects`, status);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status >= 400 && !o.accept?.includes(status)) {
        const body = o.method === 'HEAD' ? '' : (await readAll(res).catch(() => Buffer.alloc(0))).toString();
        throw new RegistryError(`${o.method} ${this.describe(url)}: ${status} ${res.statusMessage ?? ''}${errorDetail(body)}${attempt ? ` (after ${attempt} retries)` : ''}`, status);
      }
      return res;
    }
  }

  private describe(url: URL): string {
    return url.origin === this.baseUrl.origin ? `${this.registry}${url.pathname}` : `${url.host}${url.pathname}`;
  }

  private backoff(attempt: number, retryAfter?: string): number {
    const ra = retryAfter ? Number(retryAfter) : NaN;
    if (Number.isFinite(ra) && ra >= 0) return Math.min(ra * 1000, 30_000);
    // Jitter spreads out the concurrent layer transfers that failed together.
    return this.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
  }

  private async authHeader(scopes: string[]): Promise<string | undefined> {
    if (this.mode === 'basic') {
      const c = await this.credentials();
      return c ? basicHeader(c) : undefined;
    }
    if (this.mode === 'bearer') {
      const key = scopeKey(scopes);
      let token = this.tokens.get(key);
      // The realm is known: fetch the token up front instead of taking a 401 per scope.
      if (token === undefined && this.bearer) token = await this.fetchToken(this.bearer, scopes);
      return token;
    }
    return undefined;
  }

  private async answer(challenges: Challenge[], scopes: string[], url: URL, body: string): Promise<void> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      if (!bearer.params.realm) throw new RegistryError(`${this.registry}: Bearer challenge without a realm`, 401);
      this.mode = 'bearer';
      this.bearer = bearer;
      // The challenge's own scope (if any) is what this request needs; merge it in.
      const want = [...scopes];
      for (const s of (bearer.params.scope ?? '').split(' ').filter(Boolean)) if (!want.includes(s)) want.push(s);
      this.tokens.set(scopeKey(scopes), await this.fetchToken(bearer, want));
      return;
    }
    if (basic) {
      const c = await this.credentials();
      if (!c) throw new Unauthorized(`${this.registry}: authentication required (HTTP Basic): run 'strata login ${this.registry}'`);
      this.mode = 'basic';
      return;
    }
    throw new RegistryError(`${this.describe(url)}: 401 Unauthorized without a Basic or Bearer challenge${errorDetail(body)}`, 401);
  }

  private async rejected(url: URL, scopes: string[], body: string): Promise<Unauthorized> {
    const c = await this.credentials();
    const what = scopes.length ? ` to ${scopes.join(' ')}` : '';
    if (!c) return new Unauthorized(`${this.registry}: access${what} denied to anonymous user: run 'strata login ${this.registry}'${errorDetail(body)}`);
    return new Unauthorized(`${this.registry}: credentials of user "${c.username}" were rejected (401 Unauthorized on ${url.pathname})${errorDetail(body)}: check them with 'strata login ${this.registry}'`);
  }

  private async fetchToken(ch: Challenge, scopes: string[]): Promise<string> {
    const realm = new URL(ch.params.realm!);
    if (realm.protocol === 'http:' && schemeFor(realm.host, this.opts) !== 'http') {
      throw new Unauthorized(`${this.registry}: refusing to send credentials to plain-HTTP token realm ${realm.href} (name it with --insecure-registry to allow)`);
    }
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const c = await this.credentials();
    const headers: Record<string, string> = {};
    if (c) headers.authorization = basicHeader(c);
    let attempt = 0;
    for (;;) {
      let res: http.IncomingMessage;
      try {
        this.log.push(`GET token ${realm.pathname}`);
        res = await send(this.agents, { method: 'GET', url: realm, headers });
      } catch (err) {
        if (isRetryableNetworkError(err) && attempt < this.retries) {
          await sleep(this.backoff(attempt++));
          continue;
        }
        throw new RegistryError(`token service ${realm.host}: ${(err as Error).message}`, null);
      }
      const status = res.statusCode ?? 0;
      const body = (await readAll(res).catch(() => Buffer.alloc(0))).toString();
      if (RETRY_STATUS.has(status) && attempt < this.retries) {
        await sleep(this.backoff(attempt++));
        continue;
      }
      if (status === 401 || status === 403) {
        throw new Unauthorized(c
          ? `${this.registry}: token service ${realm.host} rejected the credentials of user "${c.username}" (${status})${errorDetail(body)}: check them with 'strata login ${this.registry}'`
          : `${this.registry}: token service ${realm.host} refused anonymous access (${status}): run 'strata login ${this.registry}'`);
      }
      if (status !== 200) throw new RegistryError(`token service ${realm.host}: ${status}${errorDetail(body)}`, status);
      let token: unknown;
      try {
        const j = JSON.parse(body) as { token?: unknown; access_token?: unknown };
        token = j.token ?? j.access_token;
      } catch {
        token = undefined;
      }
      if (typeof token !== 'string' || !token) throw new RegistryError(`token service ${realm.host}: response has no token`, status);
      const header = `Bearer ${token}`;
      this.tokens.set(scopeKey(scopes), header);
      return header;
    }
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** The distribution spec's error body {"errors":[{code,message,detail}]}, shortened. */
function errorDetail(body: string): string {
  if (!body) return '';
  try {
    const j = JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> };
    if (Array.isArray(j.errors) && j.errors.length) return `: ${j.errors.map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ')}`;
  } catch {
    // not JSON
  }
  const t = body.trim().slice(0, 200);
  return t ? `: ${t}` : '';
}
