/**
 * A stream's frames worked on in order, in slices shared among streams
 * (src/server/inbound-frames.ts, frame-scheduler.ts), and turns at reading for streams in
 * the middle of a large frame (src/server/read-slots.ts).
 */
import { performance } from 'perf_hooks';
import { Frame, FrameType } from '../../src/protocol';
import { FrameScheduler } from '../../src/server/frame-scheduler';
import { FrameHandler, FrameWork, InboundFrames } from '../../src/server/inbound-frames';
import { ReadSlots, ReadTurns } from '../../src/server/read-slots';

const frame = (id: number, type = FrameType.REQUEST): Frame => ({ type, flags: 0, id, payload: Buffer.alloc(0) });
const turn = () => new Promise(r => setImmediate(r));
/** The read turns of a stream in the middle of a large frame, which nobody watches wait. */
const largeFrameReader = (slots: ReadSlots) =>
  new ReadTurns(
    slots,
    () => true,
    () => undefined,
  );

function recorder(work: (frame: Frame) => FrameWork = () => undefined) {
  const seen: number[] = [];
  const queued: number[] = [];
  const handler: FrameHandler = {
    work: f => {
      seen.push(f.id);
      return work(f);
    },
    admitQueued: f => {
      queued.push(f.id);
      return true;
    },
    releaseQueued: () => undefined,
    onError: err => {
      throw err;
    },
  };
  return { seen, queued, handler };
}

/** Spins the CPU for `ms`. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('InboundFrames', () => {
  it('works on frames at once while the turn has time, in order', () => {
    const r = recorder();
    const frames = new InboundFrames(new FrameScheduler(), r.handler);
    for (let i = 1; i <= 5; i++) frames.push(frame(i));
    expect(r.seen).toEqual([1, 2, 3, 4, 5]);
    expect(r.queued).toEqual([]);
    expect(frames.whenIdle()).toBeNull();
  });

  it('holds the frames after an asynchronous one until it is done', async () => {
    let finish!: () => void;
    const r = recorder(f => (f.id === 2 ? new Promise<void>(resolve => (finish = resolve)) : undefined));
    const frames = new InboundFrames(new FrameScheduler(), r.handler);
    for (let i = 1; i <= 4; i++) frames.push(frame(i));
    expect(r.seen).toEqual([1, 2]);
    expect(r.queued).toEqual([3, 4]);
    const idle = frames.whenIdle();
    expect(idle).not.toBeNull();
    finish();
    await idle;
    expect(r.seen).toEqual([1, 2, 3, 4]);
  });

  it('leaves the rest of a burst for later turns once a slice is spent, sharing them round-robin among streams', async () => {
    const scheduler = new FrameScheduler(5);
    const a = recorder(() => busy(1));
    const b = recorder(() => busy(1));
    const streamA = new InboundFrames(scheduler, a.handler);
    const streamB = new InboundFrames(scheduler, b.handler);
    for (let i = 1; i <= 40; i++) streamA.push(frame(i));
    for (let i = 1; i <= 40; i++) streamB.push(frame(i));
    // The first slice went to A alone (about 5 frames of 1 ms); B waited entirely.
    expect(a.seen.length).toBeLessThan(40);
    expect(b.seen).toEqual([]);
    await turn();
    await turn();
    // Later turns serve both.
    expect(b.seen.length).toBeGreaterThan(0);
    await Promise.all([streamA.whenIdle(), streamB.whenIdle()]);
    expect(a.seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(b.seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('drops what waits when stopped, giving each frame back', async () => {
    const released: number[] = [];
    let finish!: () => void;
    const frames = new InboundFrames(new FrameScheduler(), {
      work: f => (f.id === 1 ? new Promise<void>(resolve => (finish = resolve)) : undefined),
      admitQueued: () => true,
      releaseQueued: f => released.push(f.id),
      onError: () => undefined,
    });
    frames.push(frame(1));
    frames.push(frame(2));
    frames.push(frame(3));
    const idle = frames.whenIdle();
    frames.stop();
    await idle;
    expect(released).toEqual([2, 3]);
    finish();
    frames.push(frame(4));
    expect(released).toEqual([2, 3]);
  });

  it('does not queue a frame the handler refuses to let wait', () => {
    let finish!: () => void;
    const worked: number[] = [];
    const frames = new InboundFrames(new FrameScheduler(), {
      work: f => {
        worked.push(f.id);
        return f.id === 1 ? new Promise<void>(resolve => (finish = resolve)) : undefined;
      },
      admitQueued: f => f.type !== FrameType.EVENT,
      releaseQueued: () => undefined,
      onError: () => undefined,
    });
    frames.push(frame(1));
    frames.push(frame(2, FrameType.EVENT));
    expect(frames.queued).toBe(0);
    finish();
  });
});

describe('ReadTurns', () => {
  it('lets streams outside a large frame read at once, and the others read a few at a time, in turn', async () => {
    const slots = new ReadSlots(1);
    const waiting: boolean[] = [];
    const a = new ReadTurns(
      slots,
      () => true,
      w => waiting.push(w),
    );
    const b = new ReadTurns(
      slots,
      () => true,
      w => waiting.push(w),
    );
    const small = new ReadTurns(
      slots,
      () => false,
      () => undefined,
    );
    expect(a.beforeRead()).toBeNull();
    const bTurn = b.beforeRead();
    expect(bTurn).toBeInstanceOf(Promise);
    expect(small.beforeRead()).toBeNull();
    expect(waiting).toEqual([true]);
    // A's next read gives its slot back: B's turn, and A waits for the next one.
    const aNext = a.beforeRead();
    await bTurn;
    expect(waiting).toEqual([true, true, false]);
    b.stop();
    await aNext;
    a.stop();
  });

  it('gives a slot back after a while even if the read has not come back (a sender that stopped)', async () => {
    const slots = new ReadSlots(1);
    const a = largeFrameReader(slots);
    const b = largeFrameReader(slots);
    expect(a.beforeRead()).toBeNull();
    await b.beforeRead();
    a.stop();
    b.stop();
  });

  it('stops waiting when the stream is done', async () => {
    const slots = new ReadSlots(1);
    const a = largeFrameReader(slots);
    const b = largeFrameReader(slots);
    void a.beforeRead();
    const waiting = b.beforeRead();
    b.stop();
    await waiting;
    a.stop();
  });
});
