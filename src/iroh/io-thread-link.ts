import { join } from 'path';
import { Worker } from 'worker_threads';
import { IrohError } from './errors';
import type { EndpointConfig } from './io';
import {
  Answer,
  BoundInfo,
  ErrorRecord,
  IoThreadStart,
  Op,
  Operation,
  SYNC_BYTES,
  SYNC_HEADER_BYTES,
  Status,
  SyncState,
  errorFromRecord,
} from './io-thread-protocol';

/**
 * How I/O threads are started. The thread runs `io-worker.js` beside this file; when the
 * TypeScript sources are run directly (the test suite), the thread needs the same loader as
 * the process, given here as Node options (`['--require', '/path/to/loader.js']`).
 */
export const ioThreadLaunch: { execArgv: string[] | undefined } = { execArgv: undefined };

/** I/O threads started and not yet ended, in this process. */
let running = 0;

/** How many I/O threads are running in this process (diagnostics: none should outlive its endpoint). */
export function runningIoThreads(): number {
  return running;
}

/** How long a closed endpoint's thread may take to end on its own before it is ended by force. */
const END_DEADLINE_MS = 5000;

/** How long a synchronous call waits for the I/O thread before it fails. */
const SYNC_TIMEOUT_MS = 5000;

interface PendingCall {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
}

/**
 * The calling thread's end of an I/O thread: calls answered by promises, operations sent in
 * one message per turn of the event loop, synchronous calls through shared memory, and the
 * thread's end. Like the binding's own pending calls, calls waiting here (and connections
 * open) keep the process alive; an idle thread does not.
 */
export class IoThreadLink {
  private readonly worker: Worker;
  private nextCall = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly closedListeners = new Map<number, (reason: string) => void>();
  private outbox: Operation[] = [];
  private transfers: ArrayBuffer[] = [];
  private scheduled = false;
  private failure: Error | null = null;
  /** Calls waiting and connections open: while there are any, the thread keeps the process alive. */
  private holds = 0;
  private held = true;
  /** The endpoint closed: the thread ends once the binding is done, and holds the process until it has. */
  private ending = false;
  private readonly syncWords: Int32Array;
  private readonly syncBytes: Uint8Array;
  private readonly exited: Promise<void>;

  private constructor(config: EndpointConfig, bound: PendingCall) {
    const sync = new SharedArrayBuffer(SYNC_HEADER_BYTES + SYNC_BYTES);
    this.syncWords = new Int32Array(sync, 0, 2);
    this.syncBytes = new Uint8Array(sync, SYNC_HEADER_BYTES, SYNC_BYTES);
    const start: IoThreadStart = { config, sync };
    const entry = join(__dirname, __filename.endsWith('.ts') ? 'io-worker.ts' : 'io-worker.js');
    this.worker = new Worker(entry, { workerData: start, execArgv: ioThreadLaunch.execArgv });
    running++;
    this.pending.set(0, bound);
    this.hold(1);
    this.worker.on('message', (batch: Answer[]) => this.onAnswers(batch));
    this.worker.on('error', err => this.fail(new IrohError(`the iroh I/O thread failed: ${err.message}`, err)));
    this.exited = new Promise(resolve =>
      this.worker.once('exit', code => {
        running--;
        this.fail(new IrohError(this.ending ? 'the iroh endpoint is closed' : `the iroh I/O thread ended (exit code ${code})`));
        resolve();
      }),
    );
  }

  /** Starts a thread and binds its endpoint; rejects (the thread ended) when binding fails. */
  static async start(config: EndpointConfig): Promise<{ link: IoThreadLink; bound: BoundInfo }> {
    let bound!: PendingCall;
    const answer = new Promise<BoundInfo>((resolve, reject) => (bound = { resolve, reject }));
    const link = new IoThreadLink(config, bound);
    try {
      return { link, bound: await answer };
    } catch (err) {
      await link.whenEnded();
      throw err;
    }
  }

  /** Why the thread cannot be used any more, or null. */
  get ended(): Error | null {
    return this.failure;
  }

  /** An operation whose answer is awaited. */
  call<T>(op: Op, handle: number, a?: unknown, b?: unknown, transfer?: ArrayBuffer): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const callId = this.nextCall++;
    const answer = new Promise<T>((resolve, reject) => this.pending.set(callId, { resolve, reject }));
    this.queue([op, callId, handle, a, b], transfer);
    this.hold(1);
    return answer;
  }

  /** An operation whose outcome nobody waits for (closing a connection, a stream limit). */
  send(op: Op, handle: number, a?: unknown, b?: unknown): void {
    if (!this.failure) this.queue([op, 0, handle, a, b]);
  }

  /**
   * An operation answered before this returns, for what must be read without waiting (an
   * endpoint's ticket). It blocks this thread until the I/O thread has answered: rare calls only.
   */
  callSync<T>(op: Op, handle: number): T {
    if (this.failure) throw this.failure;
    this.flush();
    Atomics.store(this.syncWords, 0, SyncState.WAITING);
    this.worker.postMessage([[op, 0, handle]]);
    if (Atomics.wait(this.syncWords, 0, SyncState.WAITING, SYNC_TIMEOUT_MS) === 'timed-out') {
      throw new IrohError(`the iroh I/O thread did not answer within ${SYNC_TIMEOUT_MS} ms`);
    }
    const length = Atomics.load(this.syncWords, 1);
    const value: unknown = JSON.parse(Buffer.from(this.syncBytes.subarray(0, length)).toString('utf8'));
    if (Atomics.load(this.syncWords, 0) === (SyncState.ERROR as number)) throw errorFromRecord(value as ErrorRecord);
    return value as T;
  }

  /** Calls `listener` with the reason once the connection `handle` has closed (or the thread ended). */
  onConnectionClosed(handle: number, listener: (reason: string) => void): void {
    if (this.failure) {
      listener(this.failure.message);
      return;
    }
    this.closedListeners.set(handle, listener);
    this.hold(1);
  }

  /**
   * Once the endpoint is closed (or failed to bind), waits for the thread to end, which drops
   * the binding's objects and frees the endpoint's sockets. The thread ends on its own once
   * every binding call under way in it has settled: ended while one is pending, it would take
   * the process down (the binding answers into a thread that is gone), so it is ended by force
   * only after `deadlineMs`. Until then it keeps the process alive, so that `close()` returns.
   */
  async whenEnded(deadlineMs = END_DEADLINE_MS): Promise<void> {
    this.ending = true;
    this.worker.ref();
    this.held = true;
    const timer = setTimeout(() => void this.worker.terminate(), deadlineMs);
    await this.exited;
    clearTimeout(timer);
  }

  private queue(operation: Operation, transfer?: ArrayBuffer): void {
    this.outbox.push(operation);
    if (transfer) this.transfers.push(transfer);
    if (this.scheduled) return;
    this.scheduled = true;
    // Operations queued in one turn of the event loop go to the thread together.
    setImmediate(this.flushScheduled);
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.outbox.length === 0 || this.failure) return;
    const batch = this.outbox;
    const transfers = this.transfers;
    this.outbox = [];
    this.transfers = [];
    this.worker.postMessage(batch, transfers);
  }

  private onAnswers(batch: Answer[]): void {
    for (const [id, status, value] of batch) {
      if (status === Status.EVENT) {
        const listener = this.closedListeners.get(id);
        if (!listener) continue;
        this.closedListeners.delete(id);
        this.hold(-1);
        listener(value as string);
        continue;
      }
      const call = this.pending.get(id);
      if (!call) continue;
      this.pending.delete(id);
      this.hold(-1);
      if (status === Status.OK) call.resolve(value as never);
      else call.reject(errorFromRecord(value as ErrorRecord));
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.outbox = [];
    this.transfers = [];
    const calls = [...this.pending.values()];
    const listeners = [...this.closedListeners.values()];
    this.pending.clear();
    this.closedListeners.clear();
    this.hold(-this.holds);
    for (const call of calls) call.reject(error);
    for (const listener of listeners) listener(error.message);
  }

  private hold(delta: number): void {
    this.holds += delta;
    const wanted = this.holds > 0 || this.ending;
    if (wanted === this.held) return;
    this.held = wanted;
    if (wanted) this.worker.ref();
    else this.worker.unref();
  }
}
