// @strata/builder: Dockerfile -> plan -> cached execution -> image in the store.
export { build, type BuildOptions, type BuildResult } from './build.ts';
export { parseDockerfile, parseInstruction, type Instruction, type ParsedDockerfile } from './parse.ts';
export { makePlan, type Plan, type Stage } from './plan.ts';
export { expandWord, expandWords, splitWords } from './shell-lex.ts';
export { IgnoreMatcher, loadIgnore } from './dockerignore.ts';
export { runContainer, runtimeSpec, haveRunc, type Isolation, type ContainerProcess } from './container.ts';
export { mountRootfs, defaultDriver, closeMountWorker, type MountDriver } from './mount.ts';
export { LayerView, ContextView } from './rootfs-view.ts';
export { resolveUser } from './users.ts';
export { exportOciLayout } from './output.ts';
export type { ProgressMode } from './progress.ts';
export { BuildCache, type CacheRecord, type LayerRecord } from './cache.ts';
