#!/usr/bin/env node
// strata's entry point: runs the esbuild bundle of src/main.ts when it is up
// to date with the sources (start-up is most of a no-change `strata build`),
// otherwise registers tsx and runs the TypeScript sources as they are.
import { freshBundle } from '../../common/bin/fresh-bundle.js';

const bundled = await freshBundle('cli');
let main;
if (bundled) {
  ({ main } = await import(bundled));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
