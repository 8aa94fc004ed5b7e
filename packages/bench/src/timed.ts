// Times a shell command in a bash child process with bash's own microsecond
// clock ($EPOCHREALTIME) read right before and after it, so neither Node's
// spawn cost nor bash's start-up is in the figure: only the command itself
// (and, for an external program, its exec).
import { run, ProcessFailed } from '@strata/common';

const MARK = '@@strata-bench-elapsed';

/**
 * Runs `command` (a bash snippet; its stdout is discarded) with cwd `cwd` and
 * returns its wall time in milliseconds. A non-zero exit throws
 * ProcessFailed naming the command: a failing operation has no time.
 */
export async function timeCommand(command: string, cwd: string, timeoutMs = 30 * 60_000): Promise<number> {
  const script = [
    's=$EPOCHREALTIME',
    `{ ${command} ; } >/dev/null`,
    'rc=$?',
    'e=$EPOCHREALTIME',
    `echo "${MARK} $rc $s $e"`,
  ].join('\n');
  const res = await run('bash', ['-c', script], { cwd, allowFailure: true, timeoutMs });
  const m = new RegExp(`${MARK} (\\d+) ([\\d.]+) ([\\d.]+)`).exec(res.stdout);
  if (!m || m[1] !== '0') {
    const tail = res.stderr.trim().split('\n').slice(-3).join('\n');
    throw new ProcessFailed(`bench: \`${command}\` in ${cwd} failed (exit ${m?.[1] ?? res.code ?? res.signal})${tail ? `: ${tail}` : ''}`,
      m ? Number(m[1]) : res.code, res.signal, res.stderr);
  }
  // Seconds with microseconds, as strings: subtract in integer microseconds to keep precision.
  const us = (t: string) => { const [a, b = ''] = t.split('.'); return Number(a) * 1e6 + Number(b.padEnd(6, '0').slice(0, 6)); };
  return (us(m[3]!) - us(m[2]!)) / 1000;
}

/**
 * Runs `program --version` in `cwd`, so that the program and its shared
 * libraries are in the page cache before a figure is timed with it: the
 * figure is the file system's, not the disk's reading `mv`. It matters
 * after the runner's drop_caches, when each driver's mount command has
 * loaded different libraries: the plain directory's `cp -al` loads mv's
 * and tar's (libselinux, libacl, libpcre2), strata's node does not, and a
 * `mv` of a lower directory took 5.5-6.9 ms on strata with them cold
 * against 2.2-2.5 ms with them loaded (by hand, 5 and 4 runs).
 */
export async function loadProgram(program: string, cwd: string): Promise<void> {
  await timeCommand(`${program} --version`, cwd);
}

/** Quotes `s` for bash. */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
