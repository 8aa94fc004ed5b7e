// The progress display: which driver and workload is running, how far along
// the benchmark is, and an estimate of the time left. On a terminal it is one
// line redrawn in place; otherwise (CI logs, pipes) one plain line per step.

export interface Step {
  workload: string;
  driver: string;
  run: number;
  runs: number;
}

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly started = Date.now();
  private readonly tty: boolean;
  /** Durations of finished steps by "workload driver", for the estimate. */
  private readonly took = new Map<string, number[]>();
  private done = 0;
  private current: { step: Step; at: number } | undefined;

  /** `plan` is every step the benchmark will run, in order. */
  constructor(private readonly out: NodeJS.WritableStream, private readonly plan: Step[], tty?: boolean) {
    this.tty = tty ?? Boolean((out as NodeJS.WriteStream).isTTY);
  }

  /** Milliseconds the remaining steps (from index `from`) are expected to take. */
  estimateLeft(from: number): number | undefined {
    const all = [...this.took.values()].flat();
    if (all.length === 0) return undefined;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const global = mean(all);
    let left = 0;
    for (const s of this.plan.slice(from)) {
      const same = this.took.get(`${s.workload} ${s.driver}`);
      const sameWorkload = [...this.took.entries()].filter(([k]) => k.startsWith(`${s.workload} `)).flatMap(([, v]) => v);
      left += same ? mean(same) : sameWorkload.length ? mean(sameWorkload) : global;
    }
    return left;
  }

  begin(step: Step): void {
    this.current = { step, at: Date.now() };
    const left = this.estimateLeft(this.done);
    const line = `[${this.done + 1}/${this.plan.length}] ${step.driver}: ${step.workload} (run ${step.run}/${step.runs})` +
      ` · elapsed ${fmt(Date.now() - this.started)}` + (left === undefined ? '' : ` · about ${fmt(left)} left`);
    this.out.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
  }

  end(): void {
    if (this.current) {
      const k = `${this.current.step.workload} ${this.current.step.driver}`;
      this.took.set(k, [...(this.took.get(k) ?? []), Date.now() - this.current.at]);
    }
    this.current = undefined;
    this.done++;
  }

  /** A message that must stay visible (a failure, a phase change). */
  note(msg: string): void {
    this.out.write(this.tty ? `\r\x1b[K${msg}\n` : `${msg}\n`);
  }

  finish(): void {
    this.note(`done in ${fmt(Date.now() - this.started)}`);
  }
}
