#!/usr/bin/env node
// The FUSE server process that mountOverlay() and `strata mount` start:
// argv = MOUNTPOINT OPTIONS_JSON; readiness goes to fd 3 if it is open.
import fs from 'node:fs';
import { importEntry } from '../../common/bin/fresh-bundle.js';

// The esbuild bundle when it is fresh (faster start-up), else the sources through tsx.
const { runServer, settleBackgroundWork } = await importEntry('overlay-server', new URL('../src/server.ts', import.meta.url));
let readyFd;
try {
  fs.fstatSync(3);
  readyFd = 3;
} catch {
  readyFd = undefined;
}
const code = await runServer(process.argv[2], JSON.parse(process.argv[3]), { readyFd });
settleBackgroundWork();
process.exit(code);
