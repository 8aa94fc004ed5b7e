#!/usr/bin/env node
// strata's entry point: runs the esbuild bundle of src/main.ts when it is up
// to date with the sources (start-up is most of a no-change `strata build`),
// otherwise registers tsx and runs the TypeScript sources as they are.
import { importEntry } from '../../common/bin/fresh-bundle.js';

const { main } = await importEntry('cli', new URL('../src/main.ts', import.meta.url));
process.exitCode = await main(process.argv.slice(2));
