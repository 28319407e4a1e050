import type { IoBiStream } from '../../src/iroh';

/**
 * Two connected stand-ins for an `IoBiStream`, for unit tests of a FrameStream: what one side
 * writes, the other reads, as the binding hands it over (at most the size asked for). Every
 * read and write size is recorded.
 */
export interface FakeStreamSide {
  stream: IoBiStream;
  /** Settles `send.stopped()` (the peer acknowledged our FIN): never, unless called. */
  acknowledge(): void;
  /** Sizes asked for by each `read` call. */
  readSizes: number[];
  /** Bytes of each `writeAll` call. */
  writeSizes: number[];
}

class Pipe {
  private readonly queue: Buffer[] = [];
  private reader: { size: number; resolve: (bytes: Buffer) => void } | null = null;
  private finished = false;

  write(bytes: Buffer): void {
    this.queue.push(bytes);
    this.serve();
  }

  finish(): void {
    this.finished = true;
    this.serve();
  }

  read(size: number): Promise<Buffer> {
    return new Promise(resolve => {
      this.reader = { size, resolve };
      this.serve();
    });
  }

  private serve(): void {
    const reader = this.reader;
    if (!reader) return;
    if (this.queue.length === 0) {
      if (this.finished) {
        this.reader = null;
        reader.resolve(Buffer.alloc(0));
      }
      return;
    }
    this.reader = null;
    const head = this.queue[0];
    if (head.length <= reader.size) {
      this.queue.shift();
      setImmediate(() => reader.resolve(head));
    } else {
      this.queue[0] = head.slice(reader.size);
      setImmediate(() => reader.resolve(head.slice(0, reader.size)));
    }
  }
}

function side(incoming: Pipe, outgoing: Pipe): FakeStreamSide {
  const readSizes: number[] = [];
  const writeSizes: number[] = [];
  let acknowledge!: () => void;
  const acknowledged = new Promise<void>(resolve => (acknowledge = resolve));
  const stream = {
    send: {
      write: async (parts: readonly Uint8Array[], totalLength: number) => {
        writeSizes.push(totalLength);
        outgoing.write(Buffer.concat(parts, totalLength));
      },
      finish: async () => outgoing.finish(),
      stopped: () => acknowledged,
    },
    recv: {
      read: (size: number) => {
        readSizes.push(size);
        return incoming.read(size);
      },
    },
  };
  return { stream: stream as unknown as IoBiStream, acknowledge, readSizes, writeSizes };
}

/** A connected pair: `a` writes to `b` and the other way round. */
export function biStreamPair(): { a: FakeStreamSide; b: FakeStreamSide } {
  const ab = new Pipe();
  const ba = new Pipe();
  return { a: side(ba, ab), b: side(ab, ba) };
}
