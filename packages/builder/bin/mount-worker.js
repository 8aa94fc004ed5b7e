#!/usr/bin/env node
// The builder's mount worker: one long-lived process that serves the strata
// FUSE mounts of a build's RUN steps (see src/mount-worker.ts), so a RUN
// does not pay a node start-up per mount. Runs the esbuild bundle when it is
// fresh (faster start-up), the sources through tsx otherwise.
import { importEntry } from '../../common/bin/fresh-bundle.js';

await importEntry('mount-worker', new URL('../src/mount-worker.ts', import.meta.url));
