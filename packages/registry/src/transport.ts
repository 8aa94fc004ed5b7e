// One HTTP exchange with a registry host, nothing more: picks http or https
// (plain HTTP only for loopback or --insecure-registry hosts), trusts the
// system CAs plus any --ca-cert, keeps connections alive, and streams request
// and response bodies. Retries, auth and redirects are the client's job.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { isLoopback } from './reference.ts';

export interface TlsOptions {
  /** Hosts ("host" or "host:port") spoken to over plain HTTP even though not loopback. */
  insecureRegistries?: string[];
  /** Extra PEM files trusted besides the system CAs. */
  caCerts?: string[];
}

/** A request body: bytes, or a factory so a retry can make a fresh stream. */
export type Body = Buffer | (() => Readable);

export interface SendRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Body;
}

// Debian keeps the system trust store here; Node's bundled Mozilla list is
// the fallback so a machine without ca-certificates still verifies.
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/** The scheme to use for `registry`: http only when loopback or named insecure. */
export function schemeFor(registry: string, opts: TlsOptions): 'http' | 'https' {
  const hostname = registry.replace(/:[0-9]+$/, '').replace(/^\[(.*)\]$/, '$1');
  const insecure = (opts.insecureRegistries ?? []).map((s) => s.toLowerCase());
  if (isLoopback(hostname) || insecure.includes(registry.toLowerCase()) || insecure.includes(hostname.toLowerCase())) return 'http';
  return 'https';
}

/** Keep-alive agents per TLS configuration; made once per client. */
export function makeAgents(opts: TlsOptions): { http: http.Agent; https: https.Agent } {
  const ca: string[] = [...tls.rootCertificates];
  for (const f of SYSTEM_BUNDLES) {
    try {
      ca.push(fs.readFileSync(f, 'utf8'));
      break;
    } catch {
      // not this distribution's path
    }
  }
  for (const f of opts.caCerts ?? []) ca.push(fs.readFileSync(f, 'utf8'));
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32, ca }),
  };
}

/** Network errors worth retrying: the peer went away or was not there yet. */
export function isRetryableNetworkError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ETIMEDOUT' ||
    code === 'ECONNABORTED' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | undefined)?.message === 'aborted';
}

const IDLE_TIMEOUT_MS = 60_000;

/** Sends one request; resolves with the response head (body unread) or rejects on a network error. */
export function send(agents: { http: http.Agent; https: https.Agent }, req: SendRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const mod = isHttps ? https : http;
    const headers: Record<string, string> = { 'user-agent': 'strata/0.1', ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length);
    else if (req.body === undefined && (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH')) headers['content-length'] = '0';
    const r = mod.request(req.url, { method: req.method, headers, agent: isHttps ? agents.https : agents.http });
    r.setTimeout(IDLE_TIMEOUT_MS, () => {
      const e = new Error(`${req.method} ${req.url.host}: no data for ${IDLE_TIMEOUT_MS / 1000}s`) as NodeJS.ErrnoException;
      e.code = 'ETIMEDOUT';
      r.destroy(e);
    });
    r.on('response', resolve);
    r.on('error', reject);
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const src = req.body();
      // A failing source (e.g. a store blob that no longer verifies) must abort
      // the upload rather than let the registry see a short body as complete.
      src.on('error', (err) => r.destroy(err));
      src.pipe(r);
    }
  });
}

/** Reads a (small) response body fully. */
export async function readAll(res: http.IncomingMessage, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Discards a response body so the connection can be reused. */
export async function drain(res: http.IncomingMessage): Promise<void> {
  try {
    for await (const _ of res as AsyncIterable<Buffer>) { /* discard */ }
  } catch {
    // the connection is gone; nothing to reuse
  }
}
