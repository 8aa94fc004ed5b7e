// Build progress in BuildKit's shape: every step is numbered ("#5 [stage-1
// 3/7] RUN make"), its output follows prefixed with the step number and the
// seconds since it started, and it ends with "#5 CACHED", "#5 DONE 1.2s" or
// "#5 ERROR: ...". "plain" writes lines; "tty" the same lines plus a live
// timer line for the running steps; "json" one event object per line.
export type ProgressMode = 'auto' | 'plain' | 'tty' | 'json' | 'quiet';

export interface Step {
  readonly id: number;
  output(chunk: Buffer | string): void;
  cached(): void;
  done(): void;
  error(message: string): void;
}

export interface Progress {
  step(title: string): Step;
  /** A line outside any step (warnings, the final image digest). */
  note(line: string): void;
}

/** Makes a progress writer for `out`; "auto" means tty on a terminal, plain otherwise. */
export function makeProgress(mode: ProgressMode, out: NodeJS.WritableStream & { isTTY?: boolean }): Progress {
  const m = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  let next = 1;
  const running = new Map<number, { title: string; start: number }>();
  let live = false;
  const clearLive = (): void => {
    if (live) {
      out.write('\r\x1b[K');
      live = false;
    }
  };
  const drawLive = (): void => {
    if (m !== 'tty' || running.size === 0) return;
    const now = Date.now();
    const parts = [...running.entries()].map(([id, r]) => `#${id} ${((now - r.start) / 1000).toFixed(1)}s`);
    out.write(`\x1b[2m=> ${parts.join('  ')}\x1b[0m`);
    live = true;
  };
  const timer = m === 'tty' ? setInterval(() => { clearLive(); drawLive(); }, 200) : undefined;
  timer?.unref();
  const line = (s: string): void => {
    if (m === 'quiet') return;
    clearLive();
    out.write(s + '\n');
    drawLive();
  };
  const event = (e: Record<string, unknown>): void => {
    out.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');
  };
  return {
    note(s) {
      if (m === 'json') event({ type: 'note', message: s });
      else line(s);
    },
    step(title) {
      const id = next++;
      const start = Date.now();
      running.set(id, { title, start });
      if (m === 'json') event({ type: 'start', step: id, name: title });
      else line(`#${id} ${title}`);
      let partial = '';
      const end = (): void => {
        running.delete(id);
        if (running.size === 0) clearLive();
      };
      return {
        id,
        output(chunk) {
          if (m === 'json') {
            event({ type: 'output', step: id, data: chunk.toString() });
            return;
          }
          const text = partial + chunk.toString();
          const lines = text.split('\n');
          partial = lines.pop()!;
          const t = ((Date.now() - start) / 1000).toFixed(3);
          for (const l of lines) line(`#${id} ${t} ${l}`);
        },
        cached() {
          end();
          if (m === 'json') event({ type: 'cached', step: id });
          else line(`#${id} CACHED`);
        },
        done() {
          if (partial) this.output('\n');
          end();
          const secs = ((Date.now() - start) / 1000).toFixed(1);
          if (m === 'json') event({ type: 'done', step: id, seconds: Number(secs) });
          else line(`#${id} DONE ${secs}s`);
        },
        error(message) {
          if (partial) this.output('\n');
          end();
          if (m === 'json') event({ type: 'error', step: id, message });
          else line(`#${id} ERROR: ${message}`);
        },
      };
    },
  };
}
