#!/usr/bin/env node
// The builder's mount worker: one long-lived process that serves the strata
// FUSE mounts of a build's RUN steps (see src/mount-worker.ts), so a RUN
// does not pay a node start-up per mount. Runs the esbuild bundle when it is
// fresh (faster start-up), the sources through tsx otherwise.
import { freshBundle } from '../../common/bin/fresh-bundle.js';

const bundled = await freshBundle('mount-worker');
if (bundled) {
  await import(bundled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/mount-worker.ts');
}
