import { ChildProcess, spawn } from 'child_process';
import { createInterface } from 'readline';

export interface AppProcessOptions {
  /** Shown before each line of the app's output. */
  label: string;
  /** The compiled entry file, run with this Node. */
  script: string;
  /** Command-line arguments for the script. */
  args?: string[];
  /** Added to the current environment. */
  env: Record<string, string>;
  /** Receives each output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
}

interface LineWaiter {
  pattern: RegExp;
  resolve: (match: RegExpMatchArray) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One sample app running as a child process, with its output lines kept for `waitFor`. */
export class AppProcess {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters = new Set<LineWaiter>();
  private ended = false;
  private readonly exited: Promise<number | null>;

  constructor(private readonly options: AppProcessOptions) {
    this.child = spawn(process.execPath, [options.script, ...(options.args ?? [])], {
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', line => this.onLine(line));
    }
    // 'close' comes after the last output line has been read.
    this.exited = new Promise(resolve => {
      this.child.on('close', (code, signal) => {
        this.ended = true;
        const reason = new Error(`${options.label} exited (${signal ?? `code ${code}`}) before printing what was awaited`);
        for (const waiter of this.waiters) this.settle(waiter, reason);
        resolve(code);
      });
    });
  }

  get label(): string {
    return this.options.label;
  }

  get running(): boolean {
    return !this.ended;
  }

  /** Resolves with the first output line (past or future) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    if (!this.running) return Promise.reject(new Error(`${this.label} is not running`));
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        pattern,
        resolve,
        reject,
        timer: setTimeout(
          () => this.settle(waiter, new Error(`${this.label} printed nothing matching ${pattern} within ${timeoutMs} ms`)),
          timeoutMs,
        ),
      };
      this.waiters.add(waiter);
    });
  }

  /** Resolves with the exit code once the process has ended (null when a signal ended it). */
  whenExited(): Promise<number | null> {
    return this.exited;
  }

  /** Asks the app to shut down (SIGTERM), and kills it if it has not within `graceMs`. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    this.options.onLine?.(line);
    for (const waiter of this.waiters) {
      const match = line.match(waiter.pattern);
      if (match) this.settle(waiter, match);
    }
  }

  private settle(waiter: LineWaiter, outcome: RegExpMatchArray | Error): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    if (outcome instanceof Error) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }
}
