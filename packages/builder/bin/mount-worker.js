#!/usr/bin/env node
// The builder's mount worker: one long-lived process that serves the strata
// FUSE mounts of a build's RUN steps (see src/mount-worker.ts), so a RUN
// does not pay a node start-up per mount.
import { register } from 'tsx/esm/api';

register();
await import('../src/mount-worker.ts');
