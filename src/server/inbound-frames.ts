import type { Frame } from '../protocol';
import type { FrameScheduler, ScheduledFrames } from './frame-scheduler';

/** What working on one frame gives: nothing when done, or a promise when it goes on asynchronously. */
export type FrameWork = void | Promise<void>;

/** What a stream does with its frames. */
export interface FrameHandler {
  /** Works on one frame, in order. */
  work(frame: Frame): FrameWork;
  /**
   * A frame is about to wait in the queue: reserves the memory it holds meanwhile. False when
   * it may not wait (it has been refused or dropped instead).
   */
  admitQueued(frame: Frame): boolean;
  /** A frame that waited is worked on, or dropped: gives its memory back. */
  releaseQueued(frame: Frame): void;
  onError(err: unknown): void;
}

/**
 * The frames one stream received, worked on in order: at once while the event loop's turn
 * has time (the {@link FrameScheduler} decides), otherwise queued and worked on in a later
 * turn. A frame whose work is asynchronous (a large payload inflated on the thread pool, a
 * request waiting for the client to read its replies) holds back the frames after it, so a
 * stream's frames take effect in the order they were sent; meanwhile the stream should read
 * no more ({@link whenIdle}), so the queue holds at most what one read brought. Frames that
 * wait count against the receive memory ({@link FrameHandler.admitQueued}).
 */
export class InboundFrames implements ScheduledFrames {
  private queue: Frame[] = [];
  private head = 0;
  private busy = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly scheduler: FrameScheduler,
    private readonly handler: FrameHandler,
  ) {}

  /** Frames received and not worked on yet. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** True when no frame is queued or under way. */
  get idle(): boolean {
    return !this.busy && this.queued === 0;
  }

  push(frame: Frame): void {
    if (this.stopped) return;
    if (!this.busy && this.queued === 0 && this.scheduler.hasTime()) {
      this.run(frame);
      return;
    }
    if (!this.handler.admitQueued(frame)) return;
    this.queue.push(frame);
    if (!this.busy) this.scheduler.enqueue(this);
  }

  step(): boolean {
    if (this.stopped || this.busy || this.queued === 0) return false;
    const frame = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Frame;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    this.handler.releaseQueued(frame);
    this.run(frame);
    if (this.busy) return false;
    if (this.queued === 0) this.wakeIdle();
    return this.queued > 0;
  }

  /** Null when nothing is queued or under way; else a promise that resolves once that is so. */
  whenIdle(): Promise<void> | null {
    if (this.stopped || (!this.busy && this.queued === 0)) return null;
    return new Promise(resolve => this.idleWaiters.push(resolve));
  }

  /** Drops what is queued; nothing more is worked on (the stream closed or failed). */
  stop(): void {
    this.stopped = true;
    for (let i = this.head; i < this.queue.length; i++) this.handler.releaseQueued(this.queue[i]);
    this.queue = [];
    this.head = 0;
    this.wakeIdle();
  }

  private run(frame: Frame): void {
    let pending: FrameWork;
    try {
      pending = this.handler.work(frame);
    } catch (err) {
      this.handler.onError(err);
      return;
    }
    if (!pending) return;
    this.busy = true;
    pending.then(
      () => this.resume(),
      err => {
        this.handler.onError(err);
        this.resume();
      },
    );
  }

  private resume(): void {
    this.busy = false;
    if (this.stopped) return;
    if (this.queued > 0) this.scheduler.enqueue(this);
    else this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
