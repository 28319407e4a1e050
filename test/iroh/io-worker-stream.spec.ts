import type { DirectBiStream } from '../../src/iroh/direct-io';
import { WorkerStream } from '../../src/iroh/io-worker-stream';

/** A stand-in for the binding's stream halves whose calls the test settles by hand. */
function fakeStream() {
  const writes: { bytes: number[]; done: () => void; fail: (err: Error) => void }[] = [];
  const reads: { size: number; give: (bytes: Buffer) => void; fail: (err: Error) => void }[] = [];
  const calls: string[] = [];
  const bi = {
    send: {
      write: (parts: Uint8Array[], total: number) =>
        new Promise<void>((done, fail) => {
          calls.push(`write ${total}`);
          writes.push({ bytes: [...Buffer.concat(parts, total)], done, fail });
        }),
      finish: () => {
        calls.push('finish');
        return Promise.resolve();
      },
      stopped: () => {
        calls.push('stopped');
        return Promise.resolve(null);
      },
      reset: () => Promise.resolve(),
    },
    recv: {
      read: (size: number) => new Promise<Buffer>((give, fail) => reads.push({ size, give, fail })),
      stop: () => Promise.resolve(),
    },
  } as unknown as DirectBiStream;
  return { bi, writes, reads, calls };
}

const turn = () => new Promise(resolve => setImmediate(resolve));

describe('a stream in the I/O thread', () => {
  it('writes what was queued while a write was under way as one call, in order, and finishes after it', async () => {
    const { bi, writes, calls } = fakeStream();
    const stream = new WorkerStream(bi, 1, 2, () => undefined);
    const first = stream.write(Buffer.from('a'));
    const second = stream.write(Buffer.from('bc'));
    const third = stream.write(Buffer.from('def'));
    const finished = stream.finish();
    await turn();
    expect(calls).toEqual(['write 1']);
    writes[0].done();
    await first;
    await turn();
    expect(calls).toEqual(['write 1', 'write 5']);
    expect(Buffer.from(writes[1].bytes).toString()).toBe('bcdef');
    writes[1].done();
    await Promise.all([second, third, finished]);
    expect(calls).toEqual(['write 1', 'write 5', 'finish']);
  });

  it('fails the writes and the finish after a failed write with its error', async () => {
    const { bi, writes, calls } = fakeStream();
    const stream = new WorkerStream(bi, 1, 2, () => undefined);
    const first = stream.write(Buffer.from('a'));
    const second = stream.write(Buffer.from('b'));
    const finished = stream.finish();
    await turn();
    writes[0].fail(new Error('ClosedStream'));
    await expect(first).rejects.toThrow('ClosedStream');
    await expect(second).rejects.toThrow('ClosedStream');
    await expect(finished).rejects.toThrow('ClosedStream');
    expect(calls).toEqual(['write 1']);
  });

  it('reads ahead and hands over what arrived meanwhile, at most what was asked for', async () => {
    const { bi, reads } = fakeStream();
    const stream = new WorkerStream(bi, 1, 2, () => undefined);
    expect(reads).toHaveLength(0);
    const first = stream.read(4);
    expect(reads).toHaveLength(1);
    reads[0].give(Buffer.from('ab'));
    await expect(first).resolves.toEqual(Buffer.from('ab'));
    // Reading on before it is asked to.
    expect(reads).toHaveLength(2);
    reads[1].give(Buffer.from('cd'));
    await turn();
    reads[2].give(Buffer.from('efg'));
    await turn();
    await expect(stream.read(4)).resolves.toEqual(Buffer.from('cdef'));
    await expect(stream.read(4)).resolves.toEqual(Buffer.from('g'));
  });

  it('ends reading with an empty buffer, or the read error, and is forgotten once both halves are done', async () => {
    const { bi, reads } = fakeStream();
    const done = jest.fn();
    const stream = new WorkerStream(bi, 1, 2, done);
    const read = stream.read(8);
    reads[0].give(Buffer.alloc(0));
    await expect(read).resolves.toHaveLength(0);
    expect(done).not.toHaveBeenCalled();
    await stream.stopped();
    await turn();
    expect(done).toHaveBeenCalledTimes(1);

    const failing = fakeStream();
    const other = new WorkerStream(failing.bi, 1, 3, () => undefined);
    const failed = other.read(8);
    failing.reads[0].fail(new Error('Reset(7)'));
    await expect(failed).rejects.toThrow('Reset(7)');
  });
});
