/**
 * The well-behaved client beside an attack: a ClientIroh sending an `echo` every `everyMs`
 * with a `timeoutMs` timeout, whether or not earlier ones were answered, recording what
 * happened to each.
 */
import { Observable } from 'rxjs';
import { ClientIroh, IrohClientError } from '../../src';
import { IO_THREAD_OPTION } from './io-thread-option';

export interface GoodClientSummary {
  sent: number;
  succeeded: number;
  failed: number;
  /** Failures by kind: the IrohClientError code, 'WRONG_VALUE', or the error's name. */
  failures: Record<string, number>;
  /** Slowest successful echo, ms. */
  worstMs: number;
  /** Longest time with no echo succeeding, from the start to the end of the run, ms. */
  longestGapMs: number;
  /** When the first failure happened, ms since `begin()`. */
  firstFailureAt: number | null;
}

function kindOf(err: unknown): string {
  if (err instanceof IrohClientError) return err.code;
  if (err instanceof Error) return err.name;
  if (err && typeof err === 'object' && 'code' in err) return String(err.code);
  return typeof err;
}

function settle<T>(source: Observable<T>): Promise<{ values: T[]; error?: unknown }> {
  return new Promise(resolve => {
    const values: T[] = [];
    source.subscribe({
      next: v => values.push(v),
      error: error => resolve({ values, error }),
      complete: () => resolve({ values }),
    });
  });
}

export class GoodClient {
  private readonly client: ClientIroh;
  private timer: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Promise<void>>();
  private startedAt = 0;
  private lastSuccessAt = 0;
  private seq = 0;
  private readonly summary: GoodClientSummary = {
    sent: 0,
    succeeded: 0,
    failed: 0,
    failures: {},
    worstMs: 0,
    longestGapMs: 0,
    firstFailureAt: null,
  };

  constructor(
    ticket: string,
    private readonly everyMs = 250,
    timeoutMs = 2000,
  ) {
    this.client = new ClientIroh({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', ...IO_THREAD_OPTION, peer: ticket, timeout: timeoutMs });
  }

  /** Connects and checks one echo before the attack starts. */
  async connect(): Promise<void> {
    await this.client.connect();
    const { values, error } = await settle(this.client.send('echo', 'ready'));
    if (error !== undefined || values[0] !== 'ready') throw new Error(`the good client's first echo failed: ${String(error)}`);
  }

  /** Starts sending an echo every `everyMs`. */
  begin(): void {
    this.startedAt = this.lastSuccessAt = Date.now();
    this.timer = setInterval(() => this.echo(), this.everyMs);
  }

  /** Stops sending, waits for the echoes in flight, and returns what happened. */
  async end(): Promise<GoodClientSummary> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.pending);
    const summary = this.summary;
    summary.longestGapMs = Math.max(summary.longestGapMs, Date.now() - this.lastSuccessAt);
    return { ...summary, failures: { ...summary.failures } };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client.close();
  }

  private echo(): void {
    const value = { seq: ++this.seq, text: 'still here' };
    const sentAt = Date.now();
    this.summary.sent++;
    const run = settle(this.client.send('echo', value)).then(({ values, error }) => {
      const at = Date.now();
      let failure: string | null = null;
      if (error !== undefined) failure = kindOf(error);
      else if (values.length !== 1 || JSON.stringify(values[0]) !== JSON.stringify(value)) failure = 'WRONG_VALUE';
      if (failure) {
        this.summary.failed++;
        this.summary.failures[failure] = (this.summary.failures[failure] ?? 0) + 1;
        this.summary.firstFailureAt ??= at - this.startedAt;
        return;
      }
      this.summary.succeeded++;
      this.summary.worstMs = Math.max(this.summary.worstMs, at - sentAt);
      this.summary.longestGapMs = Math.max(this.summary.longestGapMs, at - this.lastSuccessAt);
      this.lastSuccessAt = Math.max(this.lastSuccessAt, at);
    });
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }
}
