// Every driver the benchmark knows, by name, in table order.
import { DRIVER_NAMES, type Driver, type DriverName } from '../types.ts';
import { strata } from './strata.ts';
import { kernel } from './kernel.ts';
import { fuseOverlayfs } from './fuse-overlayfs.ts';
import { unionfsFuse } from './unionfs.ts';
import { plain } from './plain.ts';

export const drivers: Record<DriverName, Driver> = {
  strata,
  kernel,
  'fuse-overlayfs': fuseOverlayfs,
  'unionfs-fuse': unionfsFuse,
  plain,
};

export function isDriverName(s: string): s is DriverName {
  return (DRIVER_NAMES as readonly string[]).includes(s);
}
