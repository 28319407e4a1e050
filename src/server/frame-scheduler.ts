import { performance } from 'perf_hooks';

/**
 * Longest the server works on received frames in one turn of the event loop before it lets
 * I/O and timers run: frames beyond it wait for the next turn.
 */
export const SLICE_MS = 5;

/** Frames one stream works on before the next stream with frames waiting gets its turn. */
const FRAMES_PER_VISIT = 16;

/** A stream's queue of received frames, as the scheduler drives it. */
export interface ScheduledFrames {
  /** Works on the next queued frame; true while more can be worked on at once. */
  step(): boolean;
}

/**
 * Shares the event loop among the streams that received frames: frames are worked on as
 * they arrive while the current turn has time left, and once a turn's slice is spent, every
 * stream's further frames wait and are worked on round-robin in later turns. One peer's
 * burst of thousands of frames (a full read of tiny requests) therefore holds the others for
 * a slice at most, not for the time it takes to handle all of it.
 */
export class FrameScheduler {
  private readonly ready: ScheduledFrames[] = [];
  private readonly enrolled = new Set<ScheduledFrames>();
  private turnStart = 0;
  private turnOpen = false;
  private drainScheduled = false;

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** True while the current turn of the event loop has time left for frames. */
  hasTime(): boolean {
    const now = performance.now();
    if (!this.turnOpen) {
      this.turnOpen = true;
      this.turnStart = now;
      setImmediate(() => (this.turnOpen = false));
      return true;
    }
    return now - this.turnStart < this.sliceMs;
  }

  /** `frames` has frames waiting: it is worked on in a later turn, after those already waiting. */
  enqueue(frames: ScheduledFrames): void {
    if (this.enrolled.has(frames)) return;
    this.enrolled.add(frames);
    this.ready.push(frames);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    while (this.ready.length > 0 && this.hasTime()) {
      const frames = this.ready.shift() as ScheduledFrames;
      let more = true;
      for (let i = 0; i < FRAMES_PER_VISIT && more && this.hasTime(); i++) more = frames.step();
      if (more) this.ready.push(frames);
      else this.enrolled.delete(frames);
    }
    if (this.ready.length > 0) this.scheduleDrain();
  }
}
