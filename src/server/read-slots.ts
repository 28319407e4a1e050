/**
 * Streams receiving a large frame that may read at once, across the server. Converting what
 * the binding hands over costs the event loop about 0.15 µs per byte, so twenty uploads read
 * at once hold it for seconds; a few at a time, in turn, keep it free for everyone else while
 * the uploads still move at what the server can take in. The others wait their turn, with
 * QUIC flow control holding their senders back.
 */
export const LARGE_FRAME_READERS = 2;

/** A place in line for one read: `release` gives it back (once). */
export interface ReadSlot {
  release(): void;
}

/** Read slots handed out first come, first served. */
export class ReadSlots {
  private free: number;
  private readonly waiting: Array<(slot: ReadSlot) => void> = [];

  constructor(slots = LARGE_FRAME_READERS) {
    this.free = slots;
  }

  /** A slot at once if one is free, else a promise of the next one. */
  acquire(): ReadSlot | Promise<ReadSlot> {
    if (this.free > 0) {
      this.free--;
      return this.slot();
    }
    return new Promise(resolve => this.waiting.push(resolve));
  }

  private slot(): ReadSlot {
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const next = this.waiting.shift();
        if (next) next(this.slot());
        else this.free++;
      },
    };
  }
}

/**
 * How long a slot is held for one read at most: a read that waits for the network costs the
 * event loop nothing, and must not keep others from their turn (a sender that stopped in the
 * middle of a frame would otherwise hold a slot for good).
 */
const SLOT_HOLD_MS = 50;

/**
 * One stream's turns at reading while it receives a large frame: before each read it takes a
 * slot (waiting for one if none is free), and gives it back at its next read, or after
 * {@link SLOT_HOLD_MS}, whichever comes first.
 */
export class ReadTurns {
  private slot: ReadSlot | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly slots: ReadSlots,
    /** Whether the stream is in the middle of a large frame (it needs a slot to read). */
    private readonly needsSlot: () => boolean,
    /** Told when the stream starts and stops waiting for its turn (it is not slow meanwhile). */
    private readonly onWaiting: (waiting: boolean) => void,
  ) {}

  /** Before a read: null to read at once, or a promise that resolves at the stream's turn. */
  beforeRead(): Promise<void> | null {
    this.giveBack();
    if (this.stopped || !this.needsSlot()) return null;
    const slot = this.slots.acquire();
    if (!(slot instanceof Promise)) {
      this.hold(slot);
      return null;
    }
    this.onWaiting(true);
    return new Promise(resolve => {
      this.wake = resolve;
      void slot.then(granted => {
        this.onWaiting(false);
        if (this.stopped) granted.release();
        else this.hold(granted);
        this.wake = null;
        resolve();
      });
    });
  }

  /** The stream is done: gives its slot back and stops waiting for one. */
  stop(): void {
    this.stopped = true;
    this.giveBack();
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private hold(slot: ReadSlot): void {
    this.slot = slot;
    this.timer = setTimeout(() => this.giveBack(), SLOT_HOLD_MS);
    this.timer.unref();
  }

  private giveBack(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.slot?.release();
    this.slot = null;
  }
}
