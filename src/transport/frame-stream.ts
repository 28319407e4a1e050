import iroh = require('../iroh/binding');
import { IrohError, fromBindingBytes, settledWithin, toBindingBytes } from '../iroh';
import {
  DEFAULT_FRAME_WRITER_OPTIONS,
  Frame,
  FrameDecoder,
  FrameSink,
  FrameWriter,
  FrameWriterOptions,
  OversizedFrame,
  ProtocolError,
  ReceiveBudget,
} from '../protocol';

/**
 * Bytes asked for per read call, adapted to the traffic: the binding allocates the whole
 * size on every call, so small messages want small reads, while large messages want large
 * reads (fewer binding calls). A read that comes back full doubles the size; one that comes
 * back under a quarter full halves it.
 */
const MIN_READ = 16 * 1024;
const MAX_READ = 1024 * 1024;

/** Output queued for the peer above which the read loop waits for it to drain. */
const READ_PAUSE_BYTES = 4 * 1024 * 1024;

export interface FrameStreamHandlers {
  onFrame(frame: Frame): void;
  onOversized(frame: OversizedFrame): void;
  /** The peer sent bytes that are not protocol; reading has stopped. */
  onProtocolError(error: ProtocolError): void;
  /** The stream ended: `error` is undefined when the peer finished it cleanly. */
  onClosed(error?: Error): void;
  /**
   * Asked after each chunk read: a promise makes the read loop wait for it before reading more
   * (backpressure on what the owner has not worked through yet, e.g. events queued); null to
   * read on.
   */
  readPause?(): Promise<void> | null;
  /** What partly received frames may hold: the decoder reserves from it (unlimited when absent). */
  readonly receiveBudget?: ReceiveBudget;
  /** Bytes read, per chunk (for metrics). */
  bytesReceived?: (bytes: number) => void;
  /** Bytes handed to the stream, per write batch (for metrics). */
  bytesSent?: (bytes: number) => void;
}

/**
 * One QUIC bidirectional stream carrying protocol frames both ways: a read loop feeding a
 * {@link FrameDecoder}, and a {@link FrameWriter} whose batches become single `writeAll`
 * calls.
 */
export class FrameStream {
  readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private ended = false;
  private decodingStopped = false;
  /** When the last bytes arrived (ms since epoch). */
  lastReceivedAt = Date.now();

  constructor(
    private readonly stream: iroh.BiStream,
    maxMessageSize: number,
    private readonly handlers: FrameStreamHandlers,
    writerOptions: FrameWriterOptions = DEFAULT_FRAME_WRITER_OPTIONS,
  ) {
    const send = stream.send;
    const counted = handlers.bytesSent;
    const sink: FrameSink = counted
      ? (parts, total) => {
          counted(total);
          return send.writeAll(toBindingBytes(parts, total));
        }
      : (parts, total) => send.writeAll(toBindingBytes(parts, total));
    this.writer = new FrameWriter(sink, err => this.end(IrohError.from('stream write failed', err)), writerOptions);
    this.decoder = new FrameDecoder(
      maxMessageSize,
      {
        onFrame: frame => {
          if (!this.decodingStopped) handlers.onFrame(frame);
        },
        onOversized: frame => handlers.onOversized(frame),
        onError: error => handlers.onProtocolError(error),
      },
      handlers.receiveBudget,
    );
  }

  /** Starts the read loop. */
  start(): this {
    void this.readLoop();
    return this;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** True while a frame is partly received. */
  get hasPartialFrame(): boolean {
    return !this.decoder.idle && !this.decoder.failed;
  }

  /** When the frame now partly received began to arrive (ms since epoch), or null. */
  get partialFrameSince(): number | null {
    return this.decoder.partialFrameSince;
  }

  /** Writes what is queued, then finishes the sending side. */
  async finish(): Promise<void> {
    this.writer.close();
    try {
      await this.writer.flushed();
      await this.stream.send.finish();
    } catch {
      // The stream or its connection is already gone.
    }
  }

  private async readLoop(): Promise<void> {
    const recv = this.stream.recv;
    let size = MIN_READ;
    try {
      for (;;) {
        const bytes = await recv.read(size);
        if (bytes.length === 0) break;
        if (bytes.length === size) size = Math.min(MAX_READ, size * 2);
        else if (bytes.length < size / 4) size = Math.max(MIN_READ, size / 2);
        this.lastReceivedAt = Date.now();
        this.handlers.bytesReceived?.(bytes.length);
        if (this.decoder.failed || this.decodingStopped) continue;
        this.decoder.push(fromBindingBytes(bytes));
        // Backpressure: while the peer does not read what we write, read no more from it.
        if (this.writer.pendingBytes > READ_PAUSE_BYTES) await this.writer.drainedBelow(READ_PAUSE_BYTES / 2);
        const pause = this.handlers.readPause?.();
        if (pause) await pause;
      }
      this.end();
    } catch (err) {
      this.end(IrohError.from('stream read failed', err));
    }
  }

  /**
   * The receiving side ended. A clean end (the peer finished its side) leaves our side
   * open, so replies to what is in flight can still be written.
   */
  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.writer.close();
    this.handlers.onClosed(error);
  }

  /**
   * Finishes our side and waits (up to `timeoutMs`) until the peer has received everything
   * written, so that a connection closed right after does not discard the last frames.
   */
  async finishAndWaitDelivered(timeoutMs: number): Promise<void> {
    // A peer that does not read may never let the queued frames out: bounded as a whole.
    await settledWithin(
      this.finish().then(() => this.stream.send.stopped()),
      timeoutMs,
    );
  }

  /** Stops handing frames on: everything received from now on is discarded. */
  stopDecoding(): void {
    this.decodingStopped = true;
  }
}
