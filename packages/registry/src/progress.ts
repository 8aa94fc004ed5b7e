// Per-layer progress: on a terminal one live bar per transfer, redrawn in
// place; otherwise (logs, CI, pipes) plain lines when a transfer starts and
// ends, so output stays readable and greppable.

export interface Progress {
  /** A transfer starts; `id` is unique per transfer (a short digest), `total` its bytes. */
  start(id: string, label: string, total: number): void;
  advance(id: string, bytes: number): void;
  /** The transfer ended with a status word: "pushed", "exists", "mounted", "pulled", "failed". */
  finish(id: string, status: string): void;
  /** A line of its own (e.g. the final digest). */
  note(line: string): void;
  /** Final redraw; no more output after this. */
  close(): void;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Progress that prints nothing (library callers, tests). */
export const silentProgress: Progress = { start() {}, advance() {}, finish() {}, note() {}, close() {} };

/** Bars if `out` is a TTY, plain lines otherwise. */
export function progressFor(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): Progress {
  return out.isTTY ? new BarProgress(out) : new LineProgress(out);
}

interface Item { label: string; total: number; done: number; status?: string; started: number }

class LineProgress implements Progress {
  private readonly items = new Map<string, Item>();
  constructor(private readonly out: NodeJS.WritableStream) {}
  start(id: string, label: string, total: number): void {
    this.items.set(id, { label, total, done: 0, started: Date.now() });
  }
  advance(id: string, bytes: number): void {
    const it = this.items.get(id);
    if (it) it.done += bytes;
  }
  finish(id: string, status: string): void {
    const it = this.items.get(id);
    if (!it) return;
    const secs = (Date.now() - it.started) / 1000;
    const moved = it.done > 0 ? ` in ${secs.toFixed(1)}s` : '';
    this.out.write(`${it.label}: ${status} (${formatBytes(it.total)}${moved})\n`);
  }
  note(line: string): void {
    this.out.write(line + '\n');
  }
  close(): void {}
}

class BarProgress implements Progress {
  private readonly items = new Map<string, Item>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly out: NodeJS.WritableStream & { columns?: number }) {}
  start(id: string, label: string, total: number): void {
    this.items.set(id, { label, total, done: 0, started: Date.now() });
    this.timer ??= setInterval(() => this.draw(), 100);
    this.timer.unref();
  }
  advance(id: string, bytes: number): void {
    const it = this.items.get(id);
    if (it) it.done += bytes;
  }
  finish(id: string, status: string): void {
    const it = this.items.get(id);
    if (it) it.status = status;
    this.draw();
  }
  note(line: string): void {
    this.draw();
    this.out.write(line + '\n');
    this.drawn = 0;
    // Items above the note are final; only unfinished ones are redrawn below it.
    for (const [k, v] of this.items) if (v.status) this.items.delete(k);
  }
  close(): void {
    clearInterval(this.timer);
    this.draw();
  }
  private draw(): void {
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const it of this.items.values()) {
      const frac = it.total ? Math.min(1, it.done / it.total) : 1;
      const fill = Math.round(frac * width);
      const bar = it.status ? it.status.padEnd(width + 2) : `[${'='.repeat(fill)}${' '.repeat(width - fill)}]`;
      s += `\x1b[2K${it.label} ${bar} ${formatBytes(it.status && it.status !== 'failed' ? it.total : it.done)}/${formatBytes(it.total)}\n`;
    }
    this.drawn = this.items.size;
    this.out.write(s);
  }
}
