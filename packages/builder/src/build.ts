// Dockerfile -> image. The plan names the stages the target needs; each
// stage starts from its base (an image in the store, scratch, or another
// stage's result) and applies its instructions one by one. Every instruction
// has a cache key (parent key, the instruction as expanded, the args and env
// it sees, and for COPY/ADD the checksum of its sources); a hit reuses the
// recorded layer and created time, a miss executes:
//   RUN        union mount (parent layers + fresh upper), runc, commit upper
//   COPY/ADD   write into a fresh upper dir, commit it
//   WORKDIR    like COPY when the directory must be made, else config only
//   the rest   config only (history entry with empty_layer)
// Stages run concurrently where they do not depend on each other.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidInput, NotFound, ProcessFailed, StrataError, chainIds, sha256, type Digest } from '@strata/common';
import type { ContainerConfig, Compression, Descriptor, HistoryEntry, ImageConfig, Store } from '@strata/store';
import { BuildCache, cacheKey, type CacheRecord, type LayerRecord } from './cache.ts';
import { MOUNT_POINTS, haveRunc, runContainer, type Isolation } from './container.ts';
import { copyInto } from './copy.ts';
import { loadIgnore } from './dockerignore.ts';
import { closeMountWorker, defaultDriver, mountRootfs, warmMountWorker, type MountDriver } from './mount.ts';
import { at, parseDockerfile, parseInstruction, parseJsonForm, type Instruction } from './parse.ts';
import { argPairs, findStage, hostPlatform, makePlan, type Plan, type Stage } from './plan.ts';
import { makeProgress, type Progress, type ProgressMode, type Step } from './progress.ts';
import { ContextView, LayerView, components, type SourceView } from './rootfs-view.ts';
import { expandWord, expandWords, splitWords, type VarEnv } from './shell-lex.ts';
import { checksumSources, selectSources } from './sources.ts';
import { FileSums } from './file-sums.ts';
import { UpperWriter, lstatOrNull } from './upper-writer.ts';
import { parseChmod, resolveChown, resolveUser } from './users.ts';

export interface BuildOptions {
  contextDir: string;
  /** Dockerfile path (default CONTEXT/Dockerfile). */
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  progress?: ProgressMode;
  progressOut?: NodeJS.WritableStream;
  compression?: Compression;
  isolation?: Isolation;
  mountDriver?: MountDriver;
  /**
   * Called when a FROM or COPY --from image is not in the store: fetches it
   * (e.g. from a registry) and returns a name store.resolve() now finds, or
   * null if `ref` is nothing it can fetch. The CLI wires @strata/registry here.
   */
  pullImage?: (ref: string) => Promise<string | null>;
  /**
   * Consulted on a local cache miss (e.g. --cache-from): the record for
   * `key` with its layer blob already in the store, or null. A record
   * returned is stored in the local cache like one made here.
   */
  cacheSource?: (key: Digest) => Promise<CacheRecord | null>;
}

export interface BuildResult {
  manifest: Descriptor;
  config: ImageConfig;
  /** Steps executed and steps served from the cache. */
  executed: number;
  cached: number;
  /** The cache record of every step this build ran or reused, in order (what --cache-to exports). */
  records: CacheRecord[];
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const COMMENT = 'buildkit.dockerfile.v0';

/** The image a stage has built so far. */
interface ImageState {
  config: ImageConfig;
  layers: Descriptor[];
  key: Digest;
  /** History indices this build added, and whether each came from the cache (for `strata history`). */
  steps?: Array<{ index: number; cached: boolean }>;
}

/** Per-stage mutable build state. */
interface StageRun {
  stage: Stage;
  label: string;
  img: ImageState;
  /** ARGs in scope: name -> value (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  total: number;
  pos: number;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function cc(img: ImageState): ContainerConfig {
  img.config.config ??= {};
  return img.config.config;
}

function envMap(list: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of list ?? []) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return m;
}

function setEnv(c: ContainerConfig, name: string, value: string): void {
  const list = c.Env ?? [];
  const i = list.findIndex((e) => e === name || e.startsWith(name + '='));
  if (i >= 0) list[i] = `${name}=${value}`;
  else list.push(`${name}=${value}`);
  c.Env = list;
}

/** Parses a Go duration ("1m30s", "5s", "300ms") to nanoseconds. */
function duration(s: string, what: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || s === '') throw new InvalidInput(`${what}: invalid duration ${JSON.stringify(s)}`);
  return Math.round(total);
}

/** Builds one Dockerfile into an image in `store`. */
export async function build(store: Store, opts: BuildOptions): Promise<BuildResult> {
  try {
    return await new Builder(store, opts).run();
  } finally {
    closeMountWorker();
  }
}

class Builder {
  private readonly cache: BuildCache;
  private readonly sums: FileSums;
  private readonly progress: Progress;
  private plan!: Plan;
  private dockerfileName = 'Dockerfile';
  private context!: ContextView;
  private readonly results = new Map<number, Promise<ImageState>>();
  private readonly buildArgs: Map<string, string>;
  private driver!: MountDriver;
  private isolation!: Isolation;
  private executed = 0;
  private cachedSteps = 0;
  private warmed = false;
  private readonly records: CacheRecord[] = [];
  private readonly pulled = new Map<string, Promise<string | null>>();

  constructor(
    private readonly store: Store,
    private readonly opts: BuildOptions,
  ) {
    this.cache = new BuildCache(store);
    this.sums = new FileSums(store.root);
    this.progress = makeProgress(opts.progress ?? 'auto', (opts.progressOut ?? process.stderr) as NodeJS.WritableStream & { isTTY?: boolean });
    this.buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
  }

  async run(): Promise<BuildResult> {
    try {
      return await this.build();
    } finally {
      this.sums.save();
    }
  }

  private async build(): Promise<BuildResult> {
    const ctxStat = await lstatOrNull(this.opts.contextDir);
    if (!ctxStat?.isDirectory()) throw new NotFound(`build context ${this.opts.contextDir}: not a directory`);
    const dfPath = this.opts.dockerfile ?? path.join(this.opts.contextDir, 'Dockerfile');
    this.dockerfileName = path.relative(process.cwd(), dfPath) || dfPath;
    let text: string;
    try {
      text = await fs.readFile(dfPath, 'utf8');
    } catch {
      throw new NotFound(`Dockerfile ${dfPath}: not found`);
    }
    const parsed = parseDockerfile(text, this.dockerfileName);
    this.plan = makePlan(parsed, this.buildArgs, this.opts.target);
    this.context = new ContextView(this.opts.contextDir, await loadIgnore(this.opts.contextDir));
    this.driver = this.opts.mountDriver ?? defaultDriver();
    this.isolation = this.opts.isolation ?? ((await haveRunc()) ? 'oci' : 'chroot');
    if (!this.opts.isolation && this.isolation === 'chroot') this.progress.note('runc not found: RUN uses --isolation chroot');
    await this.checkStageRefs();

    // Start every needed stage; each awaits the stages it depends on.
    for (const i of this.plan.order) this.stageResult(i);
    const settled = await Promise.allSettled(this.plan.order.map((i) => this.stageResult(i)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const img = await this.stageResult(this.plan.target);

    const config = img.config;
    const manifest = await this.store.putImage(config, img.layers);
    await this.cache.putBuildInfo(manifest.digest, img.steps ?? []);
    for (const t of this.opts.tags ?? []) await this.store.tag(t, manifest);
    this.progress.note(`writing image ${manifest.digest}${this.opts.tags?.length ? ` as ${this.opts.tags.join(', ')}` : ''}`);
    return { manifest, config, executed: this.executed, cached: this.cachedSteps, records: this.records };
  }

  /** Fails early on a FROM or COPY --from that is neither a stage nor an image in the store. */
  private async checkStageRefs(): Promise<void> {
    for (const i of this.plan.order) {
      const st = this.plan.stages[i]!;
      if (st.baseStage === undefined && st.base !== 'scratch') await this.resolveImage(st.base, st.from);
    }
  }

  private async resolveImage(ref: string, ins: Instruction) {
    try {
      return await this.store.resolve(ref);
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      if (this.opts.pullImage) {
        // One pull per reference, shared by every stage that names it.
        let p = this.pulled.get(ref);
        if (!p) {
          p = this.opts.pullImage(ref);
          this.pulled.set(ref, p);
        }
        const name = await p;
        if (name !== null) return this.store.resolve(name);
      }
      throw new NotFound(`${at(ins)}: ${ins.keyword}: ${ref}: no stage or image with that name found (not known locally${this.opts.pullImage ? ', and not a registry reference to pull' : '; strata build does not pull'})`);
    }
  }

  private stageResult(i: number): Promise<ImageState> {
    let p = this.results.get(i);
    if (!p) {
      p = this.buildStage(this.plan.stages[i]!);
      // Failures are reported by run(); don't let a stage nobody awaits yet crash the process.
      p.catch(() => {});
      this.results.set(i, p);
    }
    return p;
  }

  // ---------------------------------------------------------------- stages

  private async buildStage(stage: Stage): Promise<ImageState> {
    const label = stage.name ?? `stage-${stage.index}`;
    const sr: StageRun = { stage, label, img: undefined as unknown as ImageState, args: new Map(), cmdSet: false, total: stage.instructions.filter((i) => i.keyword !== 'ARG').length + 1, pos: 1 };
    const step = this.progress.step(`[${label} 1/${sr.total}] FROM ${stage.base}`);
    try {
      const plat = stage.from.flags.get('platform');
      if (plat !== undefined) {
        const want = expandWord(plat, this.plan.globalArgValues, { escape: stage.from.escape });
        const host = this.plan.globalArgValues.get('BUILDPLATFORM')!;
        if (want !== host && want !== host.replace(/\/v8$/, '')) throw new InvalidInput(`${at(stage.from)}: FROM --platform=${want}: strata builds only for this machine's platform (${host})`);
      }
      sr.img = await this.baseImage(stage);
      step.done();
    } catch (err) {
      step.error((err as Error).message);
      throw err;
    }
    // ONBUILD triggers of the base run first, then are consumed.
    const triggers = cc(sr.img).OnBuild ?? [];
    if (triggers.length) {
      cc(sr.img).OnBuild = null;
      sr.total += triggers.filter((t) => !/^\s*arg\s/i.test(t)).length;
      for (const t of triggers) {
        const ins = parseInstruction(t, `${stage.base} ONBUILD`, stage.from.line);
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(ins.keyword)) throw new InvalidInput(`${at(stage.from)}: ${ins.keyword} is not allowed as an ONBUILD trigger`);
        await this.instruction(sr, ins);
      }
    }
    for (const ins of stage.instructions) await this.instruction(sr, ins);
    return sr.img;
  }

  private async baseImage(stage: Stage): Promise<ImageState> {
    const plat = hostPlatform();
    if (stage.baseStage !== undefined) {
      return clone(await this.stageResult(stage.baseStage));
    }
    if (stage.base === 'scratch') {
      return {
        config: { architecture: plat.architecture, os: plat.os, config: { Env: [DEFAULT_PATH] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
        layers: [],
        key: cacheKey(['scratch', plat]),
      };
    }
    const r = await this.resolveImage(stage.base, stage.from);
    const config = clone(r.config);
    config.config ??= {};
    config.history ??= [];
    return { config, layers: clone(r.manifest.layers), key: cacheKey(['image', r.manifestDescriptor.digest]) };
  }

  // ---------------------------------------------------------------- helpers

  /** Variables for expanding an instruction: ARGs in scope, overridden by ENV. */
  private vars(sr: StageRun): VarEnv {
    const m = new Map<string, string>();
    for (const [k, v] of sr.args) if (v !== undefined) m.set(k, v);
    for (const [k, v] of envMap(cc(sr.img).Env)) m.set(k, v);
    return m;
  }

  private word(sr: StageRun, ins: Instruction, w: string): string {
    try {
      return expandWord(w, this.vars(sr), { escape: ins.escape });
    } catch (err) {
      if (err instanceof InvalidInput) throw new InvalidInput(`${at(ins)}: ${ins.keyword}: ${err.message}`);
      throw err;
    }
  }

  private async lowerDirs(img: ImageState): Promise<string[]> {
    if (img.layers.length === 0) return [];
    return this.store.layerDirs({
      manifest: { schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(''), size: 0 }, layers: img.layers },
      config: img.config,
    });
  }

  private chainId(img: ImageState): Digest | null {
    const ids = chainIds(img.config.rootfs.diff_ids);
    return ids.length ? ids[ids.length - 1]! : null;
  }

  /** "key of the step": parent key + what the step does. */
  private stepKey(sr: StageRun, parts: unknown): Digest {
    return cacheKey([sr.img.key, parts]);
  }

  private addHistory(sr: StageRun, rec: CacheRecord, cached: boolean): void {
    const h: HistoryEntry = { created: rec.created, created_by: rec.createdBy, comment: COMMENT };
    if (!rec.layer) h.empty_layer = true;
    sr.img.config.history ??= [];
    sr.img.config.history.push(h);
    (sr.img.steps ??= []).push({ index: sr.img.config.history.length - 1, cached });
    sr.img.config.created = rec.created;
    if (rec.layer) {
      sr.img.layers.push(rec.layer.descriptor);
      sr.img.config.rootfs.diff_ids.push(rec.layer.diffId);
    }
    sr.img.key = rec.key;
  }

  /**
   * Runs a step through the cache: a hit applies the record; a miss calls
   * `exec` (which returns the layer it made, if any) and records the result.
   */
  private async cached(sr: StageRun, step: Step, key: Digest, createdBy: string, exec: (() => Promise<LayerRecord | undefined>) | null): Promise<void> {
    if (!this.opts.noCache) {
      let hit = await this.cache.get(key);
      if (!hit && this.opts.cacheSource) {
        hit = await this.opts.cacheSource(key);
        if (hit) await this.cache.put(hit);
      }
      if (hit) {
        this.records.push(hit);
        this.addHistory(sr, hit, true);
        if (exec) {
          this.cachedSteps++;
          step.cached();
        } else {
          step.done();
        }
        return;
      }
    }
    // The first step that must run means RUNs will likely follow: start the
    // mount worker now so its start-up overlaps this step.
    if (exec && !this.warmed && this.driver === 'fuse' && this.plan.stages.some((s) => s.instructions.some((i) => i.keyword === 'RUN'))) {
      this.warmed = true;
      warmMountWorker();
    }
    let layer: LayerRecord | undefined;
    try {
      layer = exec ? await exec() : undefined;
    } catch (err) {
      step.error((err as Error).message);
      throw err;
    }
    const rec: CacheRecord = { key, created: new Date().toISOString(), createdBy, layer };
    await this.cache.put(rec);
    this.records.push(rec);
    this.addHistory(sr, rec, false);
    if (exec) this.executed++;
    step.done();
  }

  /** A fresh upper dir; `fill` writes into it; the result is committed as a layer (none if it stayed empty). */
  private async withUpper(sr: StageRun, fill: (upperDir: string, workDir: string) => Promise<void>): Promise<LayerRecord | undefined> {
    const key = `build-${process.pid}-${randomBytes(6).toString('hex')}`;
    const { upperDir, workDir } = await this.store.snapshots.prepare(key);
    try {
      await fill(upperDir, workDir);
      if ((await fs.readdir(upperDir)).length === 0) return undefined;
      return await this.store.commitLayer(upperDir, this.chainId(sr.img), { compression: this.opts.compression ?? 'gzip' });
    } finally {
      // After a commit the upper dir has moved into the snapshot; what is left is the work dir.
      await this.store.snapshots.remove(key).catch(() => {});
    }
  }

  // ---------------------------------------------------------------- instructions

  private async instruction(sr: StageRun, ins: Instruction): Promise<void> {
    if (ins.keyword === 'ARG') {
      for (const { name, value } of argPairs(ins)) {
        let v = this.buildArgs.get(name);
        if (v === undefined) v = value !== undefined ? this.word(sr, ins, value) : this.plan.globalArgValues.get(name);
        sr.args.set(name, v);
      }
      return;
    }
    this.checkFlags(ins);
    sr.pos++;
    const title = `[${sr.label} ${sr.pos}/${sr.total}] ${ins.text}`.replace(/\s+/g, ' ').slice(0, 200);
    const step = this.progress.step(title);
    try {
      await this.dispatch(sr, ins, step);
    } catch (err) {
      if (err instanceof StrataError && !(err instanceof ProcessFailed) && !err.message.includes(at(ins))) {
        const e = err as StrataError & { message: string };
        e.message = `${at(ins)}: ${ins.keyword}: ${e.message}`;
      }
      throw err;
    }
  }

  /** Flags the parser accepts (they are valid Dockerfile) but strata cannot honour fail clearly. */
  private checkFlags(ins: Instruction): void {
    const f = ins.flags;
    const no = (flag: string, why: string): never => {
      throw new InvalidInput(`${at(ins)}: ${ins.keyword} --${flag} is not supported by strata build: ${why}`);
    };
    if (ins.keyword === 'RUN') {
      if (f.has('mount')) no('mount', 'cache, secret, ssh and bind mounts are not implemented');
      if (f.has('security') && f.get('security') !== 'sandbox') no('security', 'RUN always runs sandboxed');
      if (f.has('network') && !['none', 'default'].includes(f.get('network')!)) no('network', 'builds have no network');
    }
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
      if (f.has('parents')) no('parents', 'not implemented');
      if (f.has('exclude')) no('exclude', 'not implemented');
      if (f.has('checksum')) no('checksum', 'only meaningful for remote sources, which need network');
    }
  }

  private async dispatch(sr: StageRun, ins: Instruction, step: Step): Promise<void> {
    const c = cc(sr.img);
    const meta = (createdBy: string, apply: () => void): Promise<void> => {
      apply();
      return this.cached(sr, step, this.stepKey(sr, [createdBy, c]), createdBy, null);
    };
    switch (ins.keyword) {
      case 'ENV': {
        const pairs = this.pairs(sr, ins);
        return meta(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
          for (const [k, v] of pairs) setEnv(c, k, v);
        });
      }
      case 'LABEL': {
        const pairs = this.pairs(sr, ins);
        return meta(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
          c.Labels ??= {};
          for (const [k, v] of pairs) c.Labels[k] = v;
        });
      }
      case 'MAINTAINER':
        return meta(`MAINTAINER ${ins.args}`, () => {
          sr.img.config.author = ins.args;
        });
      case 'USER': {
        const u = this.word(sr, ins, ins.args.trim());
        if (u === '') throw new InvalidInput(`${at(ins)}: USER requires a user`);
        return meta(`USER ${u}`, () => {
          c.User = u;
        });
      }
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const w of splitWords(ins.args, ins.escape)) {
          for (const p of expandWords(w, this.vars(sr), { escape: ins.escape })) ports.push(...this.ports(ins, p));
        }
        return meta(`EXPOSE map[${ports.join(' ')}]`, () => {
          c.ExposedPorts ??= {};
          for (const p of ports) c.ExposedPorts[p] = {};
        });
      }
      case 'VOLUME': {
        const json = parseJsonForm(ins.args);
        const vols = (json ?? splitWords(ins.args, ins.escape)).map((w) => this.word(sr, ins, w)).filter((v) => v !== '');
        if (vols.length === 0) throw new InvalidInput(`${at(ins)}: VOLUME specified can not be an empty string`);
        return meta(`VOLUME [${vols.join(' ')}]`, () => {
          c.Volumes ??= {};
          for (const v of vols) c.Volumes[v] = {};
        });
      }
      case 'STOPSIGNAL': {
        const s = this.word(sr, ins, ins.args.trim());
        return meta(`STOPSIGNAL ${s}`, () => {
          c.StopSignal = s;
        });
      }
      case 'SHELL': {
        const json = parseJsonForm(ins.args);
        if (!json || json.length === 0) throw new InvalidInput(`${at(ins)}: SHELL requires the arguments to be in JSON form`);
        return meta(`SHELL [${json.join(' ')}]`, () => {
          c.Shell = json;
        });
      }
      case 'CMD': {
        const cmd = this.command(c, ins.args);
        return meta(`CMD ${JSON.stringify(cmd)}`, () => {
          c.Cmd = cmd;
          sr.cmdSet = true;
        });
      }
      case 'ENTRYPOINT': {
        const ep = this.command(c, ins.args);
        return meta(`ENTRYPOINT ${JSON.stringify(ep)}`, () => {
          c.Entrypoint = ep;
          // An ENTRYPOINT resets an inherited CMD (but not one set in this stage).
          if (!sr.cmdSet) c.Cmd = null;
        });
      }
      case 'HEALTHCHECK': {
        const hc = this.healthcheck(ins);
        return meta(`HEALTHCHECK ${JSON.stringify(hc)}`, () => {
          c.Healthcheck = hc;
        });
      }
      case 'ONBUILD': {
        const trigger = ins.args.trim();
        const kw = trigger.split(/\s+/, 1)[0]!.toUpperCase();
        if (kw === 'ONBUILD' || kw === 'FROM' || kw === 'MAINTAINER') throw new InvalidInput(`${at(ins)}: ${kw} isn't allowed as an ONBUILD trigger`);
        return meta(`ONBUILD ${trigger}`, () => {
          c.OnBuild = [...(c.OnBuild ?? []), trigger];
        });
      }
      case 'WORKDIR':
        return this.workdir(sr, ins, step);
      case 'RUN':
        return this.runStep(sr, ins, step);
      case 'COPY':
      case 'ADD':
        return this.copyStep(sr, ins, step);
      default:
        throw new InvalidInput(`${at(ins)}: unknown instruction: ${ins.keyword}`);
    }
  }

  /** ENV/LABEL arguments: "k=v k2=v2" or the legacy "k v". */
  private pairs(sr: StageRun, ins: Instruction): Array<[string, string]> {
    const words = splitWords(ins.args, ins.escape);
    if (words.length === 0) throw new InvalidInput(`${at(ins)}: ${ins.keyword} requires at least one argument`);
    if (!words[0]!.includes('=')) {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(ins.args.trim())!;
      if (m[2] === '') throw new InvalidInput(`${at(ins)}: ${ins.keyword} ${m[1]} needs a value (${ins.keyword} NAME=VALUE)`);
      return [[this.word(sr, ins, m[1]!), this.word(sr, ins, m[2]!)]];
    }
    return words.map((w) => {
      const eq = w.indexOf('=');
      if (eq < 0) throw new InvalidInput(`${at(ins)}: ${ins.keyword}: syntax error - can't find = in ${JSON.stringify(w)}; must be of the form: name=value`);
      const k = this.word(sr, ins, w.slice(0, eq));
      if (k === '') throw new InvalidInput(`${at(ins)}: ${ins.keyword} names can not be blank`);
      return [k, this.word(sr, ins, w.slice(eq + 1))];
    });
  }

  private ports(ins: Instruction, spec: string): string[] {
    const m = /^(?:(?:[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?:\d+(?:-\d+)?:)?(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(spec);
    if (!m) throw new InvalidInput(`${at(ins)}: EXPOSE: invalid port ${JSON.stringify(spec)}`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    const proto = (m[3] ?? 'tcp').toLowerCase();
    const out: string[] = [];
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
    return out;
  }

  /** CMD/ENTRYPOINT/RUN argument: exec form as is, shell form wrapped in SHELL. */
  private command(c: ContainerConfig, args: string): string[] {
    return parseJsonForm(args) ?? [...this.shell(c), args];
  }

  private shell(c: ContainerConfig): string[] {
    return c.Shell && c.Shell.length ? c.Shell : ['/bin/sh', '-c'];
  }

  private healthcheck(ins: Instruction): NonNullable<ContainerConfig['Healthcheck']> {
    const rest = ins.args.trim();
    const what = `${at(ins)}: HEALTHCHECK`;
    if (/^none$/i.test(rest)) return { Test: ['NONE'] };
    const m = /^cmd\s+([\s\S]+)$/i.exec(rest);
    if (!m) throw new InvalidInput(`${what}: expected NONE or CMD ...`);
    const json = parseJsonForm(m[1]!);
    const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', m[1]!] };
    const f = ins.flags;
    if (f.has('interval')) hc.Interval = duration(f.get('interval')!, what);
    if (f.has('timeout')) hc.Timeout = duration(f.get('timeout')!, what);
    if (f.has('start-period')) hc.StartPeriod = duration(f.get('start-period')!, what);
    if (f.has('start-interval')) hc.StartInterval = duration(f.get('start-interval')!, what);
    if (f.has('retries')) {
      const r = Number(f.get('retries'));
      if (!Number.isInteger(r) || r < 0) throw new InvalidInput(`${what}: --retries must be a non-negative integer`);
      hc.Retries = r;
    }
    return hc;
  }

  // ---------------------------------------------------------------- WORKDIR

  private async workdir(sr: StageRun, ins: Instruction, step: Step): Promise<void> {
    const c = cc(sr.img);
    const raw = this.word(sr, ins, ins.args.trim());
    const dir = path.posix.resolve(c.WorkingDir || '/', raw);
    c.WorkingDir = dir;
    const createdBy = `WORKDIR ${dir}`;
    const view = new LayerView(await this.lowerDirs(sr.img));
    const resolved = await view.resolve(dir, true);
    const exists = await view.lstat(resolved);
    if (exists?.stat.isDirectory()) return this.cached(sr, step, this.stepKey(sr, [createdBy, c]), createdBy, null);
    const owner = c.User ? await resolveUser(view, c.User, `${at(ins)}: WORKDIR`) : { uid: 0, gid: 0 };
    const key = this.stepKey(sr, [createdBy, c, 'mkdir', owner.uid, owner.gid]);
    return this.cached(sr, step, key, createdBy, () =>
      this.withUpper(sr, async (upper) => {
        const w = new UpperWriter(upper, view);
        await w.ensureDir(resolved, { mode: 0o755, uid: owner.uid, gid: owner.gid });
      }));
  }

  // ---------------------------------------------------------------- RUN

  private async runStep(sr: StageRun, ins: Instruction, step: Step): Promise<void> {
    const c = cc(sr.img);
    const json = parseJsonForm(ins.args);
    let args: string[];
    let heredocScript: string | undefined;
    if (json) {
      args = json;
    } else if (ins.heredocs.length === 1 && /^<<-?["']?\w+["']?$/.test(ins.args.trim())) {
      // RUN <<EOF: the body is the script; with a #! line it is run as an executable file.
      const body = ins.heredocs[0]!.content;
      args = body.startsWith('#!')
        ? [...this.shell(c), 'f=/dev/.strata-heredoc; printf "%s" "$STRATA_HEREDOC" > $f && unset STRATA_HEREDOC && chmod 0755 $f && exec $f']
        : [...this.shell(c), body];
      if (body.startsWith('#!')) heredocScript = body;
    } else if (ins.heredocs.length > 0) {
      // Heredocs feeding a command: the shell reads them from the script text.
      const bodies = ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('');
      args = [...this.shell(c), `${ins.args}\n${bodies}`];
    } else {
      args = [...this.shell(c), ins.args];
    }
    // The env a RUN sees: the image's ENV plus the ARGs in scope (ENV wins).
    const env = new Map<string, string>();
    for (const [k, v] of sr.args) if (v !== undefined) env.set(k, v);
    for (const [k, v] of envMap(c.Env)) env.set(k, v);
    if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH.slice(5));
    const envList = [...env].map(([k, v]) => `${k}=${v}`);
    if (heredocScript !== undefined) envList.push(`STRATA_HEREDOC=${heredocScript}`);
    const cwd = c.WorkingDir || '/';
    const user = c.User || '';
    const argsUsed = [...sr.args].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    const createdBy = `RUN ${argsUsed.length ? `|${argsUsed.length} ${argsUsed.join(' ')} ` : ''}${args.join(' ')} # buildkit`;
    const key = this.stepKey(sr, ['RUN', args, envList, cwd, user]);
    return this.cached(sr, step, key, createdBy, () =>
      this.withUpper(sr, async (upper, work) => {
        const lowers = await this.lowerDirs(sr.img);
        const view = new LayerView(lowers);
        const ids = await resolveUser(view, user, `${at(ins)}: USER ${user}`);
        if (!env.has('HOME')) envList.push(`HOME=${ids.home || '/root'}`);
        const missing: string[] = [];
        for (const mp of MOUNT_POINTS) if (!(await view.lstat(mp))) missing.push(mp);
        const mnt = await mountRootfs(this.driver, lowers, upper, work);
        let code: number;
        try {
          code = await runContainer(mnt.mountpoint, { args, env: envList, cwd, uid: ids.uid, gid: ids.gid, additionalGids: ids.additionalGids }, {
            isolation: this.isolation,
            onOutput: (b) => step.output(b),
          });
        } finally {
          await mnt.unmount();
        }
        // Mount points the runtime had to create are not part of the layer.
        for (const mp of missing) await fs.rmdir(path.join(upper, mp)).catch(() => {});
        if (code !== 0) {
          throw new ProcessFailed(`${at(ins)}: process "${args.join(' ')}" did not complete successfully: exit code: ${code}`, code, null, '');
        }
      }));
  }

  // ---------------------------------------------------------------- COPY / ADD

  private async copyStep(sr: StageRun, ins: Instruction, step: Step): Promise<void> {
    const c = cc(sr.img);
    const what = `${at(ins)}: ${ins.keyword}`;
    const isAdd = ins.keyword === 'ADD';
    const flag = (n: string): string | undefined => {
      const v = ins.flags.get(n);
      return v === undefined ? undefined : this.word(sr, ins, v);
    };
    const json = parseJsonForm(ins.args);
    const words = (json ?? splitWords(ins.args, ins.escape)).map((w) => this.word(sr, ins, w));
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    if (words.length < 2) throw new InvalidInput(`${what} requires at least two arguments: SOURCE... DEST`);
    const destWord = words[words.length - 1]!;
    const srcWords = words.slice(0, -1);
    const dest = destWord.startsWith('/') ? destWord : path.posix.join(c.WorkingDir || '/', destWord) + (destWord.endsWith('/') || destWord === '.' || destWord.endsWith('/.') ? '/' : '');
    // Heredoc sources are files made from the Dockerfile itself.
    const heredocSrcs: Array<{ name: string; content: string }> = [];
    const fileSrcs: string[] = [];
    for (const s of srcWords) {
      const m = /^<<-?["']?(\w+)["']?$/.exec(s);
      if (m && heredocs.has(m[1]!)) {
        const h = heredocs.get(m[1]!)!;
        heredocSrcs.push({ name: h.name, content: h.expand ? expandWord(h.content, this.vars(sr), { escape: ins.escape, rawQuotes: true, rawEscapes: true }) : h.content });
      } else {
        if (isAdd && /^(https?:\/\/|git@|git:\/\/)/.test(s)) {
          throw new InvalidInput(`${what}: ${s}: remote sources are not supported: strata build has no network access (download the file into the context instead)`);
        }
        fileSrcs.push(s);
      }
    }
    const fromRef = flag('from');
    let view: SourceView = this.context;
    let where = 'build context';
    let fromKey: string = 'context';
    if (fromRef !== undefined) {
      if (isAdd) throw new InvalidInput(`${what}: --from is not supported for ADD`);
      const idx = findStage(this.plan.stages, fromRef, sr.stage.index);
      let img: ImageState;
      if (idx !== undefined) {
        img = await this.stageResult(idx);
        where = `stage ${fromRef}`;
      } else {
        const r = await this.resolveImage(fromRef, ins);
        img = { config: r.config, layers: r.manifest.layers, key: cacheKey(['image', r.manifestDescriptor.digest]) };
        where = `image ${fromRef}`;
      }
      view = new LayerView(await this.lowerDirs(img));
      fromKey = img.key;
    }
    const lowers = await this.lowerDirs(sr.img);
    const destView = new LayerView(lowers);
    const chown = await resolveChown(destView, flag('chown'), what);
    const chmod = parseChmod(flag('chmod'), what);
    const selected = fileSrcs.length ? await selectSources(view, fileSrcs, `${what} ${fileSrcs.join(' ')}`, where) : [];
    const sum = selected.length ? await checksumSources(view, selected, this.sums) : null;
    const createdBy = `${ins.keyword} ${[...ins.flags].map(([k, v]) => `--${k}=${v}`).join(' ')}${ins.flags.size ? ' ' : ''}${srcWords.join(' ')} ${destWord} # buildkit`;
    const key = this.stepKey(sr, [ins.keyword, fromKey, sum, heredocSrcs, dest, chown, chmod, ins.flags.get('link')]);
    return this.cached(sr, step, key, createdBy, () =>
      this.withUpper(sr, async (upper, work) => {
        const w = new UpperWriter(upper, destView);
        if (selected.length) {
          await copyInto(w, view, selected, heredocSrcs.length ? (dest.endsWith('/') ? dest : dest + '/') : dest, {
            what, chown, chmod, keepOwner: fromRef !== undefined, extract: isAdd, scratchDir: work,
          });
        }
        if (heredocSrcs.length) await this.writeHeredocs(w, heredocSrcs, dest, selected.length + heredocSrcs.length > 1, chown, chmod);
      }));
  }

  private async writeHeredocs(w: UpperWriter, docs: Array<{ name: string; content: string }>, dest: string, many: boolean, chown?: { uid: number; gid: number }, chmod?: number): Promise<void> {
    const destResolved = await w.resolve(dest, true);
    const intoDir = many || dest.endsWith('/') || (await w.isDir(destResolved));
    for (const d of docs) {
      let target: string;
      if (intoDir) {
        await w.ensureDir(destResolved);
        target = path.posix.join(destResolved, d.name);
      } else {
        target = await w.resolve(dest, false);
        await w.ensureDir(path.posix.dirname(target));
      }
      await w.clear(target, false);
      const hp = w.host(target);
      await fs.writeFile(hp, d.content);
      await fs.lchown(hp, chown?.uid ?? 0, chown?.gid ?? 0);
      await fs.chmod(hp, chmod ?? 0o644);
    }
  }
}

/** In-root path components helper re-exported for tests. */
export { components };
