/** The FrameWriter's batching, back-pressure and failure handling (src/protocol/frame-writer.ts). */
import { DEFAULT_FRAME_WRITER_OPTIONS, Frame, FrameFlag, FrameSink, FrameType, FrameWriter } from '../../src/protocol';
import { collect } from '../support/frame-collector';

describe('FrameWriter', () => {
  function recordingSink() {
    const calls: Array<{ parts: Buffer[]; total: number }> = [];
    let gate: Promise<void> = Promise.resolve();
    const sink: FrameSink = async (parts, total) => {
      calls.push({ parts, total });
      await gate;
    };
    return {
      calls,
      sink,
      hold(): () => void {
        let release!: () => void;
        gate = new Promise(r => (release = r));
        return () => {
          gate = Promise.resolve();
          release();
        };
      },
    };
  }

  function decodeAll(calls: Array<{ parts: Buffer[]; total: number }>): Frame[] {
    const c = collect();
    for (const call of calls) {
      const bytes = Buffer.concat(call.parts);
      expect(bytes.length).toBe(call.total);
      c.decoder.push(bytes);
    }
    expect(c.errors).toEqual([]);
    return c.frames;
  }

  it('batches every write of one tick into one sink call, in order (burst splitting off)', async () => {
    const rec = recordingSink();
    const errors: Error[] = [];
    const writer = new FrameWriter(rec.sink, e => errors.push(e), { ...DEFAULT_FRAME_WRITER_OPTIONS, splitBurstBytes: 0 });
    for (let i = 1; i <= 1000; i++) {
      expect(writer.write(FrameType.DATA, i, i % 3 === 0 ? null : Buffer.from(`v${i}`), i % 2 ? FrameFlag.BINARY : 0)).toBe(true);
    }
    expect(writer.pendingBytes).toBeGreaterThan(0);
    expect(rec.calls).toHaveLength(0); // nothing is written synchronously
    await writer.flushed();
    expect(rec.calls).toHaveLength(1);
    expect(writer.pendingBytes).toBe(0);
    const frames = decodeAll(rec.calls);
    expect(frames.map(f => f.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(frames[2].payload.length).toBe(0);
    expect(frames[0].payload.toString()).toBe('v1');
    expect(frames[0].flags).toBe(FrameFlag.BINARY);
    expect(errors).toEqual([]);
  });

  it('sends a burst queued while idle as two writes by default (so both sides pipeline), in order', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    for (let i = 1; i <= 1000; i++) writer.write(FrameType.DATA, i, Buffer.from(`v${i}`));
    await writer.flushed();
    expect(rec.calls).toHaveLength(2);
    expect(Math.abs(rec.calls[0].total - rec.calls[1].total)).toBeLessThan(64);
    expect(decodeAll(rec.calls).map(f => f.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // A small burst is not split.
    const small = recordingSink();
    const w2 = new FrameWriter(small.sink, () => undefined);
    for (let i = 1; i <= 10; i++) w2.write(FrameType.PONG, i, null);
    await w2.flushed();
    expect(small.calls).toHaveLength(1);
  });

  it('queues writes made while a batch is in flight into the next single call', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    const release = rec.hold();
    writer.write(FrameType.DATA, 1, Buffer.from('a'));
    await new Promise(r => setImmediate(r));
    expect(rec.calls).toHaveLength(1);
    for (let i = 2; i <= 50; i++) writer.write(FrameType.DATA, i, Buffer.from('b'));
    await new Promise(r => setImmediate(r));
    expect(rec.calls).toHaveLength(1); // still waiting for the first
    let flushed = false;
    const done = writer.flushed().then(() => (flushed = true));
    await new Promise(r => setImmediate(r));
    expect(flushed).toBe(false);
    release();
    await done;
    expect(rec.calls).toHaveLength(2);
    expect(decodeAll(rec.calls).map(f => f.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('resolves flushed() at once when nothing is queued', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    await expect(writer.flushed()).resolves.toBeUndefined();
    expect(rec.calls).toHaveLength(0);
  });

  it('resolves flushed() only after the sink accepted the bytes', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    const release = rec.hold();
    writer.write(FrameType.PING, 1, null);
    let flushed = false;
    const done = writer.flushed().then(() => (flushed = true));
    await new Promise(r => setTimeout(r, 20));
    expect(rec.calls).toHaveLength(1);
    expect(flushed).toBe(false);
    release();
    await done;
  });

  it('rejects flushed(), reports once and refuses further writes when the sink fails', async () => {
    const failure = new Error('stream reset by peer');
    let calls = 0;
    const errors: Error[] = [];
    const writer = new FrameWriter(
      async () => {
        calls++;
        throw failure;
      },
      e => errors.push(e),
    );
    writer.write(FrameType.DATA, 1, Buffer.from('x'));
    const first = writer.flushed();
    writer.write(FrameType.DATA, 2, Buffer.from('y'));
    await expect(first).rejects.toBe(failure);
    expect(errors).toEqual([failure]);
    expect(writer.isClosed).toBe(true);
    expect(writer.write(FrameType.DATA, 3, Buffer.from('z'))).toBe(false);
    await expect(writer.flushed()).rejects.toBe(failure);
    await new Promise(r => setTimeout(r, 10));
    expect(calls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(writer.pendingBytes).toBe(0);
  });

  it('wraps non-Error sink failures and survives a sink that throws synchronously', async () => {
    const errors: Error[] = [];
    const throwing: FrameSink = () => {
      throw 'plain string';
    };
    const writer = new FrameWriter(throwing, e => errors.push(e));
    writer.write(FrameType.DATA, 1, null);
    await expect(writer.flushed()).rejects.toThrow('plain string');
    expect(errors[0]).toBeInstanceOf(Error);
  });

  it('caps each batch at maxBatchBytes (a larger single part goes alone) and keeps the order', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined, { maxBatchBytes: 100, splitBurstBytes: 0, schedule: f => setImmediate(f) });
    for (let i = 1; i <= 40; i++) writer.write(FrameType.DATA, i, Buffer.alloc(i === 20 ? 500 : 30, i));
    await writer.flushed();
    expect(rec.calls.length).toBeGreaterThan(10);
    for (const call of rec.calls) {
      const bigPart = call.parts.some(p => p.length > 100);
      expect(call.total <= 100 || (bigPart && call.parts.length === 1)).toBe(true);
    }
    const frames = decodeAll(rec.calls);
    expect(frames.map(f => f.id)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(frames.every(f => f.payload.every(b => b === f.id))).toBe(true);
  });

  it('drainedBelow() resolves once the queue is small enough', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined, { maxBatchBytes: 1000, splitBurstBytes: 0, schedule: f => setImmediate(f) });
    const release = rec.hold();
    for (let i = 1; i <= 10; i++) writer.write(FrameType.DATA, i, Buffer.alloc(996));
    let drained = false;
    const done = writer.drainedBelow(3000).then(() => (drained = true));
    await new Promise(r => setTimeout(r, 20));
    expect(drained).toBe(false);
    release();
    await done;
    expect(writer.pendingBytes).toBeLessThanOrEqual(3000);
    await expect(writer.drainedBelow(1 << 30)).resolves.toBeUndefined();
    await writer.flushed();
  });

  it('after close() refuses new frames but still writes what was queued', async () => {
    const rec = recordingSink();
    const writer = new FrameWriter(rec.sink, () => undefined);
    writer.write(FrameType.DATA, 1, Buffer.from('queued'));
    writer.close();
    expect(writer.isClosed).toBe(true);
    expect(writer.write(FrameType.DATA, 2, Buffer.from('late'))).toBe(false);
    await writer.flushed();
    expect(decodeAll(rec.calls).map(f => f.payload.toString())).toEqual(['queued']);
  });

  describe('prefixes and deferred payloads', () => {
    function deferred() {
      let resolve!: (p: { prefix: Buffer | null; body: Buffer; flags: number }) => void;
      const promise = new Promise<{ prefix: Buffer | null; body: Buffer; flags: number }>(r => (resolve = r));
      return { promise, resolve };
    }

    it('writes a prefix and a body as one payload', async () => {
      const rec = recordingSink();
      const writer = new FrameWriter(rec.sink, () => undefined);
      writer.write(FrameType.REQUEST, 7, Buffer.from('body'), FrameFlag.BINARY, Buffer.from('pre:'));
      writer.write(FrameType.REQUEST, 8, null, 0, Buffer.from('only'));
      await writer.flushed();
      const frames = decodeAll(rec.calls);
      expect(frames.map(f => [f.id, f.flags, f.payload.toString()])).toEqual([
        [7, FrameFlag.BINARY, 'pre:body'],
        [8, 0, 'only'],
      ]);
    });

    it('keeps frames queued after a deferred one behind it, in call order, and counts it as pending', async () => {
      const rec = recordingSink();
      const writer = new FrameWriter(rec.sink, () => undefined);
      writer.write(FrameType.DATA, 1, Buffer.from('first'));
      const slow = deferred();
      expect(writer.writeDeferred(FrameType.DATA, 2, slow.promise, 10_000)).toBe(true);
      writer.write(FrameType.DATA, 3, Buffer.from('third'));
      writer.write(FrameType.END, 4, null);
      expect(writer.pendingBytes).toBeGreaterThan(10_000);
      let flushed = false;
      const done = writer.flushed().then(() => (flushed = true));
      await new Promise(r => setTimeout(r, 20));
      expect(decodeAll(rec.calls).map(f => f.id)).toEqual([1]);
      expect(flushed).toBe(false);
      slow.resolve({ prefix: Buffer.from('p'), body: Buffer.from('second'), flags: FrameFlag.COMPRESSED });
      await done;
      const frames = decodeAll(rec.calls);
      expect(frames.map(f => [f.id, f.payload.toString()])).toEqual([
        [1, 'first'],
        [2, 'psecond'],
        [3, 'third'],
        [4, ''],
      ]);
      expect(frames[1].flags).toBe(FrameFlag.COMPRESSED);
      expect(writer.pendingBytes).toBe(0);
    });

    it('deferred payloads that finish out of order still go out in call order', async () => {
      const rec = recordingSink();
      const writer = new FrameWriter(rec.sink, () => undefined);
      const a = deferred();
      const b = deferred();
      writer.writeDeferred(FrameType.DATA, 1, a.promise, 1);
      writer.writeDeferred(FrameType.DATA, 2, b.promise, 1);
      b.resolve({ prefix: null, body: Buffer.from('b'), flags: 0 });
      await new Promise(r => setTimeout(r, 5));
      expect(rec.calls).toHaveLength(0);
      a.resolve({ prefix: null, body: Buffer.from('a'), flags: 0 });
      await writer.flushed();
      expect(decodeAll(rec.calls).map(f => f.payload.toString())).toEqual(['a', 'b']);
    });

    it('writes a deferred frame accepted before close(), and refuses new ones after it', async () => {
      const rec = recordingSink();
      const writer = new FrameWriter(rec.sink, () => undefined);
      const slow = deferred();
      writer.writeDeferred(FrameType.RESPONSE, 1, slow.promise, 5);
      writer.close();
      expect(writer.writeDeferred(FrameType.RESPONSE, 2, deferred().promise, 5)).toBe(false);
      slow.resolve({ prefix: null, body: Buffer.from('late'), flags: 0 });
      await writer.flushed();
      expect(decodeAll(rec.calls).map(f => f.payload.toString())).toEqual(['late']);
    });

    it('drainedBelow() waits for deferred payloads too', async () => {
      const rec = recordingSink();
      const writer = new FrameWriter(rec.sink, () => undefined);
      const slow = deferred();
      writer.writeDeferred(FrameType.DATA, 1, slow.promise, 5000);
      let drained = false;
      const done = writer.drainedBelow(100).then(() => (drained = true));
      await new Promise(r => setTimeout(r, 10));
      expect(drained).toBe(false);
      slow.resolve({ prefix: null, body: Buffer.from('x'), flags: 0 });
      await done;
      await writer.flushed();
    });
  });
});
