import { encodeFrameHeader } from './codec';
import { FrameType } from './frames';
import type { WirePayload } from './stream-encoder';

/**
 * Where a {@link FrameWriter} delivers its batches: the parts of one write, in order, and
 * their total length. Resolves when the bytes are handed to the transport.
 */
export type FrameSink = (parts: Buffer[], totalLength: number) => Promise<void>;

/**
 * Queues frames and writes them in batches: everything queued while a write is in flight,
 * or within the same turn of the event loop, goes out in one sink call. With the iroh
 * binding each call costs tens of microseconds whatever its size, so this is what lets
 * many small messages share one write.
 */
export interface FrameWriterOptions {
  /**
   * Largest batch handed to the sink at once. Smaller batches let the peer start on the
   * first part of a burst while the rest is still being written (pipelining); larger ones
   * mean fewer sink calls.
   */
  maxBatchBytes: number;
  /**
   * A burst queued while the writer was idle, at least this large, goes out as two writes:
   * the first half at once, so the peer starts on it while the second half is written. In a
   * closed loop this keeps two batches in flight instead of both sides taking turns
   * (0 turns it off).
   */
  splitBurstBytes: number;
  /** How a flush is deferred so that frames queued together share a write. */
  schedule: (flush: () => void) => void;
}

export const DEFAULT_FRAME_WRITER_OPTIONS: FrameWriterOptions = {
  maxBatchBytes: 64 * 1024,
  splitBurstBytes: 1024,
  schedule: flush => setImmediate(flush),
};

const EMPTY = Buffer.alloc(0);

/** A frame held back behind one whose payload is still being prepared. */
interface StagedFrame {
  type: FrameType;
  id: number;
  /** Null until the payload is ready. */
  payload: WirePayload | null;
  /** Bytes counted for it while staged (the uncompressed size for a pending one). */
  size: number;
}

interface Waiter {
  /** Resolved once this many bytes (counted since the writer started) are written. */
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Queues frames and writes them in batches: everything queued while a write is in flight,
 * or within the same turn of the event loop, goes out in one sink call (up to
 * `maxBatchBytes`). With the iroh binding each call costs tens of microseconds whatever its
 * size, so this is what lets many small messages share one write.
 */
export class FrameWriter {
  private parts: Buffer[] = [];
  private queuedBytes = 0;
  /** Bytes ever queued, and ever written: flushed() waits for the first to reach the second. */
  private enqueuedTotal = 0;
  private writtenTotal = 0;
  private writing = false;
  private scheduled = false;
  private closed = false;
  private failure: Error | null = null;
  private waiters: Waiter[] = [];
  /** Frames queued behind a payload still being prepared, in call order (empty most of the time). */
  private staged: StagedFrame[] = [];
  private stagedBytes = 0;
  private stagedWaiters: Array<() => void> = [];
  private readonly flush = () => {
    this.scheduled = false;
    void this.drain();
  };

  constructor(
    private readonly sink: FrameSink,
    private readonly onError: (err: Error) => void,
    private readonly options: FrameWriterOptions = DEFAULT_FRAME_WRITER_OPTIONS,
  ) {}

  /** When the writer last made progress (a write completed, or it went from idle to busy). */
  lastProgressAt = Date.now();

  /** Bytes handed to the sink since the writer started: grows while the peer takes our data. */
  get writtenBytes(): number {
    return this.writtenTotal;
  }

  /** Bytes queued and not yet handed to the sink (payloads still being prepared count uncompressed). */
  get pendingBytes(): number {
    return this.queuedBytes + this.stagedBytes;
  }

  get isClosed(): boolean {
    return this.closed || this.failure !== null;
  }

  /**
   * Queues a frame whose payload is `prefix` (if any) then `payload`. Returns false (and drops
   * it) when the writer is closed or failed.
   */
  write(type: FrameType, id: number, payload: Buffer | null, flags = 0, prefix: Buffer | null = null): boolean {
    if (this.closed || this.failure) return false;
    if (this.staged.length > 0) {
      const size = (payload?.length ?? 0) + (prefix?.length ?? 0);
      this.staged.push({ type, id, payload: { prefix, body: payload ?? EMPTY, flags }, size });
      this.stagedBytes += size;
      return true;
    }
    this.enqueue(type, id, payload, flags, prefix);
    return true;
  }

  /**
   * Queues a frame whose payload is still being prepared (compressed off the event loop).
   * Frames queued after it wait behind it, so frames go out in the order of the calls;
   * `sizeHint` counts in {@link pendingBytes} meanwhile. `pending` must not reject.
   */
  writeDeferred(type: FrameType, id: number, pending: Promise<WirePayload>, sizeHint: number): boolean {
    if (this.closed || this.failure) return false;
    const entry: StagedFrame = { type, id, payload: null, size: sizeHint };
    this.staged.push(entry);
    this.stagedBytes += sizeHint;
    void pending.then(payload => {
      entry.payload = payload;
      this.releaseStaged();
    });
    return true;
  }

  private releaseStaged(): void {
    while (this.staged.length > 0 && this.staged[0].payload !== null) {
      const entry = this.staged.shift() as StagedFrame;
      this.stagedBytes -= entry.size;
      const { prefix, body, flags } = entry.payload as WirePayload;
      // Accepted before any close(): written even if the writer has closed since.
      if (!this.failure) this.enqueue(entry.type, entry.id, body.length > 0 ? body : null, flags, prefix);
    }
    if (this.staged.length === 0 && this.stagedWaiters.length > 0) {
      const waiters = this.stagedWaiters;
      this.stagedWaiters = [];
      waiters.forEach(resolve => resolve());
    }
  }

  /** Resolves once no frame is staged. */
  private stagedDrained(): Promise<void> {
    return new Promise(resolve => this.stagedWaiters.push(resolve));
  }

  private enqueue(type: FrameType, id: number, payload: Buffer | null, flags: number, prefix: Buffer | null): void {
    const prefixLength = prefix === null ? 0 : prefix.length;
    const length = (payload === null ? 0 : payload.length) + prefixLength;
    const header = encodeFrameHeader(type, flags, id, length);
    this.parts.push(header);
    let size = header.length;
    if (prefixLength > 0) this.parts.push(prefix as Buffer);
    if (length > prefixLength) this.parts.push(payload as Buffer);
    size += length;
    if (this.queuedBytes === 0 && !this.writing) this.lastProgressAt = Date.now();
    this.queuedBytes += size;
    this.enqueuedTotal += size;
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      this.options.schedule(this.flush);
    }
  }

  /** Resolves once everything queued so far has been handed to the sink. */
  flushed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.staged.length > 0) return this.stagedDrained().then(() => this.flushed());
    if (this.writtenTotal >= this.enqueuedTotal) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ upTo: this.enqueuedTotal, resolve, reject }));
  }

  /** Resolves once at most `bytes` remain queued (or the writer failed). */
  drainedBelow(bytes: number): Promise<void> {
    if (this.pendingBytes <= bytes || this.failure) return Promise.resolve();
    if (this.staged.length > 0) return this.stagedDrained().then(() => this.drainedBelow(bytes));
    const target = this.enqueuedTotal - bytes;
    return new Promise(resolve => this.waiters.push({ upTo: target, resolve, reject: () => resolve() }));
  }

  /** Stops accepting frames; what is queued is still written. */
  close(): void {
    this.closed = true;
  }

  private takeBatch(first: boolean): { parts: Buffer[]; total: number } {
    const split = this.options.splitBurstBytes;
    let max = this.options.maxBatchBytes;
    if (first && split > 0 && this.queuedBytes >= split) max = Math.min(max, Math.ceil(this.queuedBytes / 2));
    if (this.queuedBytes <= max) {
      const batch = { parts: this.parts, total: this.queuedBytes };
      this.parts = [];
      this.queuedBytes = 0;
      return batch;
    }
    const head = this.parts[0];
    if (head.length > max) {
      // A large message goes out in slices, so that each write completes (and shows
      // progress) in bounded time and the frames behind it are not held up for seconds.
      this.parts[0] = head.subarray(max);
      this.queuedBytes -= max;
      return { parts: [head.subarray(0, max)], total: max };
    }
    let count = 0;
    let total = 0;
    while (count < this.parts.length && total + this.parts[count].length <= max) {
      total += this.parts[count++].length;
    }
    const parts = this.parts.splice(0, count);
    this.queuedBytes -= total;
    return { parts, total };
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    let first = true;
    while (this.parts.length > 0 && !this.failure) {
      const { parts, total } = this.takeBatch(first);
      first = false;
      try {
        await this.sink(parts, total);
        this.writtenTotal += total;
        this.lastProgressAt = Date.now();
        if (this.waiters.length > 0) this.settleWaiters();
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.parts = [];
        this.queuedBytes = 0;
        const waiters = this.waiters;
        this.waiters = [];
        waiters.forEach(w => w.reject(this.failure as Error));
        const stagedWaiters = this.stagedWaiters;
        this.stagedWaiters = [];
        stagedWaiters.forEach(resolve => resolve());
        this.onError(this.failure);
      }
    }
    this.writing = false;
  }

  private settleWaiters(): void {
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (this.writtenTotal >= waiter.upTo) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
