// Child process for the concurrency test: writes a deterministic blob of
// SIZE bytes into the store at ROOT in small chunks (so two writers overlap),
// then commits it with the expected digest and prints the digest.
import { openStore } from '../../src/index.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const [root, sizeArg, expected] = process.argv.slice(2);
const size = Number(sizeArg);
const store = await openStore(root!);
const w = await store.content.writer();
const chunk = Buffer.alloc(64 << 10);
for (let off = 0; off < size; off += chunk.length) {
  chunk.fill(off / chunk.length % 251);
  const n = Math.min(chunk.length, size - off);
  if (!w.write(Buffer.from(chunk.subarray(0, n)))) await new Promise((r) => w.once('drain', r));
  if (off % (1 << 20) === 0) await sleep(1);
}
const info = await w.commit(size, expected as `sha256:${string}`);
process.stdout.write(info.digest);
