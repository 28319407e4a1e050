import { Frame, FrameType, ReceiveBudget } from '../protocol';
import type { PeerConnection } from './connection-registry';
import type { FrameScheduler } from './frame-scheduler';
import { FrameHandler, InboundFrames } from './inbound-frames';
import { ReadSlots, ReadTurns } from './read-slots';
import type { StreamBudget } from './receive-pool';

/** What the receive memory is charged for a frame waiting to be worked on, beyond its payload. */
const QUEUED_FRAME_OVERHEAD = 256;

/** What an intake needs from its stream. */
export interface IntakeOwner {
  /** Works on one frame, in order. */
  work(frame: Frame): void | Promise<void>;
  /** A REQUEST, EVENT or CANCEL the receive memory could not hold while it waited: refuse or drop it. */
  onOutOfMemory(frame: Frame): void;
  onError(err: unknown): void;
}

/**
 * How one stream takes in what it receives: the memory its partly received frame reserves,
 * the order and pace in which its frames are worked on, the memory frames waiting their turn
 * hold, and when its read loop may read again (after the frames received are worked through
 * — backpressure — and, in the middle of a large frame, at its turn among the streams
 * receiving large frames — fairness).
 */
export class ChannelIntake {
  readonly budget: StreamBudget;
  private readonly frames: InboundFrames;
  private readonly turns: ReadTurns;

  constructor(
    peer: PeerConnection,
    scheduler: FrameScheduler,
    readSlots: ReadSlots,
    private readonly owner: IntakeOwner,
  ) {
    this.budget = peer.budget.forStream();
    const handler: FrameHandler = {
      work: frame => owner.work(frame),
      // A request, event or CANCEL the memory cannot hold while it waits is refused or dropped;
      // the frames of a request stream (DATA, END) and GOAWAY always wait.
      admitQueued: frame => {
        const refusable = frame.type === FrameType.REQUEST || frame.type === FrameType.EVENT || frame.type === FrameType.CANCEL;
        if (peer.budget.reserve(frame.payload.length + QUEUED_FRAME_OVERHEAD, !refusable)) return true;
        owner.onOutOfMemory(frame);
        return false;
      },
      releaseQueued: frame => peer.budget.release(frame.payload.length + QUEUED_FRAME_OVERHEAD),
      onError: err => owner.onError(err),
    };
    this.frames = new InboundFrames(scheduler, handler);
    this.turns = new ReadTurns(
      readSlots,
      () => this.budget.receivingLarge,
      waiting => this.budget.setHeldBack(waiting),
    );
  }

  /** What the stream's decoder reserves from. */
  get receiveBudget(): ReceiveBudget {
    return this.budget;
  }

  /** True when no frame is waiting or being worked on. */
  get idle(): boolean {
    return this.frames.idle;
  }

  push(frame: Frame): void {
    // PING and PONG need no order and cost nothing to handle: never queued, so a flood of
    // them cannot fill the queue with frame objects (a 4-byte PING is ~100 bytes of heap).
    if (frame.type === FrameType.PING || frame.type === FrameType.PONG) void this.owner.work(frame);
    else this.frames.push(frame);
  }

  /** Null when nothing is waiting or being worked on; else a promise that resolves once so. */
  whenIdle(): Promise<void> | null {
    return this.frames.whenIdle();
  }

  /**
   * Before each read: null to read at once, or a promise of when the stream may. While the
   * server keeps it from reading, a partly received frame's slowness is not the sender's.
   */
  beforeRead(): Promise<void> | null {
    const idle = this.frames.whenIdle();
    if (!idle) return this.turns.beforeRead();
    this.budget.setHeldBack(true);
    return idle.then(() => {
      this.budget.setHeldBack(false);
      return this.turns.beforeRead() ?? undefined;
    });
  }

  /** Nothing more is taken in: what waits is dropped and every reservation given back. */
  stop(): void {
    this.frames.stop();
    this.turns.stop();
    this.budget.close();
  }

  /** The stream is done (both sides finished): gives back what its decoder held. */
  release(): void {
    this.budget.close();
  }
}
