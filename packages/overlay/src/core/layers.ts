// The layer stack of one mount: an optional upper (writable) directory on
// top of read-only lower directories, top first, as lowerdir=A:B:C lists them.
import path from 'node:path';

/** A place in one layer: `rel` is "/"-rooted inside layer `layer`. */
export interface Source {
  /** Index into Layers.roots (0 is the upper layer when there is one). */
  layer: number;
  rel: string;
}

export class Layers {
  /** Layer roots, top first; roots[0] is the upper directory if `hasUpper`. */
  readonly roots: string[];
  readonly hasUpper: boolean;
  readonly upperDir: string | undefined;
  readonly workDir: string | undefined;

  constructor(lowerDirs: string[], upperDir?: string, workDir?: string) {
    this.hasUpper = upperDir !== undefined;
    this.upperDir = upperDir && path.resolve(upperDir);
    this.workDir = workDir && path.resolve(workDir);
    this.roots = [...(this.upperDir ? [this.upperDir] : []), ...lowerDirs.map((d) => path.resolve(d))];
  }

  /** The host path of a source. */
  real(src: Source): string {
    return src.rel === '/' ? this.roots[src.layer]! : this.roots[src.layer]! + src.rel;
  }

  /** Index of the first lower layer. */
  get firstLower(): number {
    return this.hasUpper ? 1 : 0;
  }

  /** A name for layer `i` that `strata which` prints. */
  describe(i: number): string {
    if (this.hasUpper && i === 0) return `upper ${this.roots[0]}`;
    return `lower ${i - this.firstLower} ${this.roots[i]}`;
  }
}
