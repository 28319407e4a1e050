import { DEFAULT_MAX_MESSAGE_SIZE, Frame, FrameDecoder, FrameType, encodeFrame } from '../../src/protocol';

/**
 * A stand-in for an `IoBiStream`, for unit tests of a channel: what the channel
 * writes is decoded into `written`, and the test plays the server by pushing frames.
 */
export class FakeBiStream {
  /** Frames the channel wrote, in order. */
  readonly written: Frame[] = [];
  finished = false;
  private readonly incoming: Buffer[] = [];
  private waitingReader: ((bytes: Buffer) => void) | null = null;
  private ended = false;
  private readonly decoder = new FrameDecoder(DEFAULT_MAX_MESSAGE_SIZE, {
    onFrame: frame => this.written.push({ ...frame, payload: Buffer.from(frame.payload) }),
    onOversized: () => undefined,
    onError: error => {
      throw error;
    },
  });

  readonly send = {
    write: async (parts: readonly Uint8Array[]): Promise<void> => {
      for (const part of parts) this.decoder.push(Buffer.from(part));
    },
    finish: async (): Promise<void> => {
      this.finished = true;
    },
    stopped: async (): Promise<void> => undefined,
  };

  readonly recv = {
    read: (_size: number): Promise<Buffer> => {
      const next = this.incoming.shift();
      if (next) return Promise.resolve(next);
      if (this.ended) return Promise.resolve(Buffer.alloc(0));
      return new Promise(resolve => (this.waitingReader = resolve));
    },
  };

  /** The server sends a frame. */
  push(type: FrameType, id: number, payload: Buffer = Buffer.alloc(0), flags = 0): void {
    this.deliver(encodeFrame(type, id, payload, flags));
  }

  /** The server finishes its side of the stream. */
  end(): void {
    this.ended = true;
    this.deliver(Buffer.alloc(0));
  }

  /** Frames of one type written so far. */
  frames(type: FrameType): Frame[] {
    return this.written.filter(frame => frame.type === type);
  }

  private deliver(bytes: Buffer): void {
    const reader = this.waitingReader;
    if (reader) {
      this.waitingReader = null;
      reader(bytes);
    } else if (bytes.length > 0) {
      this.incoming.push(bytes);
    }
  }
}

/** Lets pending promise callbacks and the writer's batch run. */
export async function settleIo(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise(resolve => setImmediate(resolve));
}
