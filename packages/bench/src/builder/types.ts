// The builder section: strata's Dockerfile builder against buildah (vfs
// storage, chroot isolation) on the same Dockerfiles from fixtures/bench/.
// Each run uses a fresh storage root: a cold build, a rebuild with nothing
// changed, then a rebuild after one source file changed.

export const BUILDER_NAMES = ['strata', 'buildah'] as const;
export type BuilderName = (typeof BUILDER_NAMES)[number];

export const SCENARIOS = ['cold', 'no-change', 'one-file-changed'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BuildJob {
  /** Empty directory this builder may use as its whole storage. */
  storage: string;
  contextDir: string;
  dockerfile: string;
  tag: string;
}

export interface ImageBuilder {
  readonly name: BuilderName;
  /** How it is run, for the report. */
  readonly options: string;
  probe(): Promise<{ available: true; version: string } | { available: false; reason: string }>;
  /** The shell command line that builds `job` (timed in a child shell). */
  command(job: BuildJob): string;
  /** Releases whatever the builder left outside `storage` (nothing, for both today). */
  cleanup(job: BuildJob): Promise<void>;
}

export interface BuildResult {
  builder: BuilderName;
  fixture: string;
  scenario: Scenario;
  unit: 'ms';
  runs: number[];
  median: number;
  min: number;
  max: number;
}

export interface BuilderSection {
  builders: Array<{ name: BuilderName; available: boolean; version?: string; options?: string; reason?: string }>;
  fixtures: string[];
  results: BuildResult[];
  failures: Array<{ builder: BuilderName; fixture: string; run: number; error: string }>;
  /** Set when the whole section could not run (e.g. the base rootfs fixture is missing). */
  skipped?: string;
}
