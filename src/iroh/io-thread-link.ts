import { join } from 'path';
import { Worker } from 'worker_threads';
import { IrohError } from './errors';
import {
  Answer,
  ErrorRecord,
  IoThreadStart,
  Op,
  Operation,
  SYNC_BYTES,
  SYNC_HEADER_BYTES,
  SYNC_WORDS,
  EXIT_WORD,
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

/** How many I/O threads are running in this process (diagnostics: none outlives its endpoints by much). */
export function runningIoThreads(): number {
  return running;
}

/**
 * How long the I/O thread stays after its last endpoint closed, so that an endpoint bound
 * soon after (a client replacing another, a server restarting) finds it running. It holds
 * nothing meanwhile: the process may exit.
 */
const LINGER_MS = 1000;

/** How long `process.exit()` waits for the I/O thread's binding calls to settle. */
const EXIT_WAIT_MS = 2000;

/** How long a synchronous call waits for the I/O thread before it fails. */
const SYNC_TIMEOUT_MS = 5000;

interface PendingCall {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
}

/** This thread's I/O thread, while it has endpoints or lingers. */
let current: IoThreadLink | null = null;

/**
 * The I/O thread for one more endpoint: the one running, or a new one. Every endpoint of a
 * thread (servers and clients alike) shares it; the caller reports the endpoint's end with
 * {@link IoThreadLink.endpointClosed}.
 */
export function ioThreadForEndpoint(): IoThreadLink {
  if (!current || current.ended) current = new IoThreadLink();
  current.endpointOpened();
  return current;
}

/**
 * The calling thread's end of its I/O thread: calls answered by promises, operations sent in
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
  private endpoints = 0;
  private linger: NodeJS.Timeout | null = null;
  private readonly syncWords: Int32Array;
  private readonly syncBytes: Uint8Array;

  constructor() {
    const sync = new SharedArrayBuffer(SYNC_HEADER_BYTES + SYNC_BYTES);
    this.syncWords = new Int32Array(sync, 0, SYNC_WORDS);
    this.syncBytes = new Uint8Array(sync, SYNC_HEADER_BYTES, SYNC_BYTES);
    const start: IoThreadStart = { sync };
    const entry = join(__dirname, __filename.endsWith('.ts') ? 'io-worker.ts' : 'io-worker.js');
    this.worker = new Worker(entry, { workerData: start, execArgv: ioThreadLaunch.execArgv });
    running++;
    this.hold(0);
    this.worker.on('message', (batch: Answer[]) => this.onAnswers(batch));
    this.worker.on('error', err => this.fail(new IrohError(`the iroh I/O thread failed: ${err.message}`, err)));
    process.on('exit', this.beforeProcessExit);
    this.worker.once('exit', code => {
      running--;
      process.off('exit', this.beforeProcessExit);
      this.fail(new IrohError(`the iroh I/O thread ended (exit code ${code})`));
    });
  }

  /**
   * `process.exit()` ends the thread without waiting for anything. A binding call still under
   * way would then answer into the ended thread and abort the process, so the exit waits
   * (blocked, at most {@link EXIT_WAIT_MS}) for the thread to close its endpoints and for their
   * calls to settle.
   */
  private readonly beforeProcessExit = (): void => {
    if (this.failure) return;
    this.worker.postMessage([[Op.EXIT, 0, 0]]);
    Atomics.wait(this.syncWords, EXIT_WORD, 0, EXIT_WAIT_MS);
  };

  endpointOpened(): void {
    this.endpoints++;
    if (this.linger) clearTimeout(this.linger);
    this.linger = null;
  }

  /** An endpoint of this thread closed (or failed to bind); the last one lets the thread end after a while. */
  endpointClosed(): void {
    if (--this.endpoints > 0 || this.failure) return;
    this.linger = setTimeout(() => this.end(), LINGER_MS);
    this.linger.unref();
  }

  /**
   * Lets the thread end: it does once the binding has nothing under way in it (ended while a
   * binding call is pending, the binding answers into a thread that is gone and takes the
   * process down). Its end drops the binding's objects and frees every socket left.
   */
  private end(): void {
    this.linger = null;
    if (this.endpoints > 0 || this.failure) return;
    this.flush();
    this.worker.postMessage([[Op.END, 0, 0]]);
    this.failure = new IrohError('the iroh endpoint is closed');
    if (current === this) current = null;
  }

  /** Why the thread cannot be used any more (it ended, or is ending), or null. */
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
    if (current === this) current = null;
    if (this.linger) clearTimeout(this.linger);
    this.linger = null;
    if (this.failure && this.pending.size === 0 && this.closedListeners.size === 0) return;
    this.failure ??= error;
    error = this.failure;
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
    const wanted = this.holds > 0;
    if (wanted === this.held) return;
    this.held = wanted;
    if (wanted) this.worker.ref();
    else this.worker.unref();
  }
}
