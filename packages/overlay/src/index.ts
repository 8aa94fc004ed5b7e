// @strata/overlay: a union filesystem with overlay2 semantics over FUSE,
// and the kernel overlayfs mounter, behind one library API.
export type { Mount, MountHandle, OverlayOptions } from './types.ts';
export { mountOverlay, unmountWait } from './mount.ts';
export { mountKernelOverlay, kernelOptions } from './kernel.ts';
export { parseMountOptions, formatMountOptions, splitEscaped, type ParsedMountOptions } from './options.ts';
export { Overlay } from './core/overlay.ts';
export { runServer, settleBackgroundWork } from './server.ts';
export { readState, statsFileFor, alive } from './state.ts';
export { unmountPath } from './unmount.ts';
export { validateMount, mountPoints } from './validate.ts';
