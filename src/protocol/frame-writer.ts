import { encodeFrameHeader } from './codec';
import { FrameType } from './frames';

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
export class FrameWriter {
  private parts: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private scheduled = false;
  private closed = false;
  private failure: Error | null = null;
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    private readonly sink: FrameSink,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Bytes queued and not yet handed to the sink. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  get isClosed(): boolean {
    return this.closed || this.failure !== null;
  }

  /** Queues a frame. Returns false (and drops it) when the writer is closed or failed. */
  write(type: FrameType, id: number, payload: Buffer | null, flags = 0): boolean {
    if (this.closed || this.failure) return false;
    const length = payload === null ? 0 : payload.length;
    const header = encodeFrameHeader(type, flags, id, length);
    this.parts.push(header);
    this.queuedBytes += header.length;
    if (length > 0) {
      this.parts.push(payload as Buffer);
      this.queuedBytes += length;
    }
    this.schedule();
    return true;
  }

  /** Resolves once everything queued so far has been handed to the sink. */
  flushed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.writing && this.parts.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops accepting frames; what is queued is still written. */
  close(): void {
    this.closed = true;
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    while (this.parts.length > 0 && !this.failure) {
      const parts = this.parts;
      const total = this.queuedBytes;
      this.parts = [];
      this.queuedBytes = 0;
      // Waiters registered by now asked for frames that are all in this batch or an earlier one.
      const waiters = this.waiters.length > 0 ? this.takeWaiters() : null;
      try {
        await this.sink(parts, total);
        waiters?.forEach(w => w.resolve());
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.parts = [];
        this.queuedBytes = 0;
        waiters?.forEach(w => w.reject(this.failure as Error));
        this.takeWaiters().forEach(w => w.reject(this.failure as Error));
        this.onError(this.failure);
      }
    }
    this.writing = false;
    if (!this.failure) this.takeWaiters().forEach(w => w.resolve());
  }

  private takeWaiters(): Array<{ resolve: () => void; reject: (err: Error) => void }> {
    const waiters = this.waiters;
    this.waiters = [];
    return waiters;
  }
}
