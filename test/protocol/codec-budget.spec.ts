/**
 * The decoder and the receive budget (src/protocol/codec.ts, receive-budget.ts): a payload
 * that spans chunks is buffered only once its announced length is reserved, the reservation is
 * given back when the frame is handed on, and a frame the budget cannot hold is skipped like
 * an oversized one (marked outOfBudget) while the stream stays usable.
 */
import { FrameDecoder, FrameType, ReceiveBudget, encodeFrame, encodeFrameHeader } from '../../src/protocol';

interface Recorded {
  decoder: FrameDecoder;
  budget: ReceiveBudget & { held: number; calls: string[]; seen: Array<[number, number]> };
  frames: Array<{ type: FrameType; id: number; length: number }>;
  refused: Array<{ id: number; length: number; outOfBudget?: boolean }>;
}

function decoderWith(capacity: number): Recorded {
  const budget: Recorded['budget'] = {
    held: 0,
    calls: [],
    seen: [],
    reserve(bytes) {
      budget.calls.push(`reserve ${bytes}`);
      if (budget.held + bytes > capacity) return false;
      budget.held += bytes;
      return true;
    },
    release(bytes) {
      budget.calls.push(`release ${bytes}`);
      budget.held -= bytes;
    },
    progress(received, length) {
      budget.seen.push([received, length]);
    },
  };
  const r: Recorded = { budget, frames: [], refused: [], decoder: null as unknown as FrameDecoder };
  r.decoder = new FrameDecoder(
    1 << 20,
    {
      onFrame: f => {
        // Handed on: the reservation is already given back.
        r.frames.push({ type: f.type, id: f.id, length: f.payload.length });
        expect(budget.held).toBe(0);
      },
      onOversized: f => r.refused.push({ id: f.id, length: f.length, outOfBudget: f.outOfBudget }),
      onError: e => {
        throw e;
      },
    },
    budget,
  );
  return r;
}

describe('FrameDecoder with a receive budget', () => {
  it('reserves nothing for a frame that arrives whole in one chunk', () => {
    const r = decoderWith(0);
    r.decoder.push(encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(5000)));
    expect(r.frames).toEqual([{ type: FrameType.REQUEST, id: 1, length: 5000 }]);
    expect(r.budget.calls).toEqual([]);
  });

  it('reserves the announced length of a frame that spans chunks, reports progress, and releases it when handed on', () => {
    const r = decoderWith(1 << 20);
    const frame = encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(3000, 7));
    r.decoder.push(frame.subarray(0, 1000));
    expect(r.budget.held).toBe(3000);
    r.decoder.push(frame.subarray(1000, 2000));
    expect(r.frames).toEqual([]);
    r.decoder.push(frame.subarray(2000));
    expect(r.frames).toEqual([{ type: FrameType.REQUEST, id: 1, length: 3000 }]);
    expect(r.budget.calls).toEqual(['reserve 3000', 'release 3000']);
    expect(r.budget.held).toBe(0);
    // The header took 5 bytes of the first chunk (a 2-byte length): 995 of the payload came with it, then 1000.
    expect(r.budget.seen).toEqual([
      [995, 3000],
      [1995, 3000],
    ]);
  });

  it('skips a frame the budget cannot hold, reported as outOfBudget, and decodes the next one', () => {
    const r = decoderWith(1000);
    const big = encodeFrame(FrameType.REQUEST, 1, Buffer.alloc(5000));
    const next = encodeFrame(FrameType.REQUEST, 2, Buffer.from('ok'));
    const bytes = Buffer.concat([big, next]);
    r.decoder.push(bytes.subarray(0, 100));
    expect(r.refused).toEqual([{ id: 1, length: 5000, outOfBudget: true }]);
    r.decoder.push(bytes.subarray(100, 3000));
    r.decoder.push(bytes.subarray(3000));
    expect(r.frames).toEqual([{ type: FrameType.REQUEST, id: 2, length: 2 }]);
    expect(r.budget.held).toBe(0);
    expect(r.decoder.idle).toBe(true);
  });

  it('does not reserve for a frame above maxMessageSize (refused for its size, not its budget)', () => {
    const r = decoderWith(Infinity);
    r.decoder.push(encodeFrameHeader(FrameType.REQUEST, 0, 1, 2 << 20));
    expect(r.refused).toEqual([{ id: 1, length: 2 << 20, outOfBudget: undefined }]);
    expect(r.budget.calls).toEqual([]);
  });
});
