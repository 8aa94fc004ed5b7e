// The one process runner. Streams are inherited or captured; a non-zero exit
// becomes ProcessFailed carrying the exit code and the tail of stderr.
import { spawn, type SpawnOptions } from 'node:child_process';
import { ProcessFailed } from './errors.ts';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Data written to the child's stdin, then closed. */
  input?: string | Buffer;
  /** Pass the child's stdout/stderr through instead of capturing them. */
  inherit?: boolean;
  /** Don't throw on a non-zero exit; the caller looks at `code`. */
  allowFailure?: boolean;
  /** Kill the child after this many milliseconds. */
  timeoutMs?: number;
  /** Called with each chunk of output as it arrives (still captured too), e.g. to stream a build step's output. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args`, resolving when it exits. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => {
      out.push(b);
      opts.onOutput?.(b, 'stdout');
    });
    child.stderr?.on('data', (b: Buffer) => {
      err.push(b);
      opts.onOutput?.(b, 'stderr');
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ProcessFailed(`${cmd}: ${e.message}`, null, null, ''));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if ((code !== 0 || signal) && !opts.allowFailure) {
        const tail = result.stderr.trim().split('\n').slice(-5).join('\n');
        const how = signal ? `killed by ${signal}` : `exited ${code}`;
        reject(new ProcessFailed(`${cmd} ${args.join(' ')}: ${how}${tail ? `: ${tail}` : ''}`, code, signal, result.stderr));
        return;
      }
      resolve(result);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
