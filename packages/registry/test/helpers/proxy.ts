// A fault-injecting HTTP proxy for tests, put between the client and a real
// registry: it counts requests, and can corrupt one byte of a blob's body or
// cut a blob download off after some bytes (to exercise resume).
import http from 'node:http';
import { freePort } from './registry-server.ts';

export interface ProxyFaults {
  /** Flip one byte of every GET of a blob whose path contains this digest. */
  corruptBlob?: string;
  /** Destroy the connection after this many body bytes of the first `times` GETs of this blob. */
  dropBlob?: { digest: string; afterBytes: number; times: number };
  /** The first `times` requests whose path contains `match` get a 503, or have their connection reset. */
  failFirst?: { match: string; times: number; mode: '503' | 'reset' };
}

export interface Proxy {
  readonly port: number;
  readonly host: string;
  /** "METHOD path status" for every request forwarded. */
  readonly requests: string[];
  /** Most blob GETs/PUTs/PATCHes that were in flight at once. */
  readonly maxBlobsInFlight: number;
  faults: ProxyFaults;
  stop(): Promise<void>;
}

export async function startProxy(targetPort: number, faults: ProxyFaults = {}): Promise<Proxy> {
  const requests: string[] = [];
  const state = { faults, drops: 0, failed: 0, inFlight: 0, maxInFlight: 0 };
  const server = http.createServer((req, res) => {
    if (/\/blobs\/(sha256:|uploads\/.+)/.test(req.url ?? '') && req.method !== 'HEAD' && req.method !== 'POST') {
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      res.once('close', () => state.inFlight--);
    }
    const ff = state.faults.failFirst;
    if (ff && (req.url ?? '').includes(ff.match) && state.failed < ff.times) {
      state.failed++;
      requests.push(`${req.method} ${req.url} ${ff.mode}`);
      if (ff.mode === 'reset') {
        req.socket.resetAndDestroy();
      } else {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}');
      }
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const line = `${req.method} ${req.url} ${ur.statusCode}`;
      requests.push(line);
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
      const f = state.faults;
      if (isBlobGet && f.corruptBlob && req.url!.includes(f.corruptBlob)) {
        let flipped = false;
        ur.on('data', (c: Buffer) => {
          if (!flipped && c.length) {
            c = Buffer.from(c);
            c[Math.floor(c.length / 2)] ^= 0xff;
            flipped = true;
          }
          res.write(c);
        });
        ur.on('end', () => res.end());
        return;
      }
      if (isBlobGet && f.dropBlob && req.url!.includes(f.dropBlob.digest) && state.drops < f.dropBlob.times && !req.headers.range) {
        state.drops++;
        let sent = 0;
        const limit = f.dropBlob.afterBytes;
        ur.on('data', (c: Buffer) => {
          if (sent >= limit) return;
          const part = c.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
          if (sent >= limit) {
            ur.destroy();
            // Let the bytes reach the client, then cut the connection mid-body.
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    host: `127.0.0.1:${port}`,
    requests,
    get maxBlobsInFlight() { return state.maxInFlight; },
    get faults() { return state.faults; },
    set faults(f: ProxyFaults) { state.faults = f; state.failed = 0; state.drops = 0; },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
