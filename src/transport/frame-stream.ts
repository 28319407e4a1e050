import { IoBiStream, IrohError, settledWithin } from '../iroh';
import {
  DEFAULT_FRAME_WRITER_OPTIONS,
  EncodedPayload,
  ErrorCode,
  Feature,
  Frame,
  FrameDecoder,
  FrameFlag,
  FrameSink,
  FrameType,
  FrameWriter,
  FrameWriterOptions,
  MAX_DEFINING_PAYLOAD,
  OversizedFrame,
  PatternTableReader,
  ProtocolError,
  ReceiveBudget,
  StreamEncoder,
} from '../protocol';

/**
 * Bytes asked for per read call, adapted to the traffic: the binding allocates the whole
 * size on every call, so small messages want small reads, while large messages want fewer
 * binding calls. A read that comes back full doubles the size; one that comes back under a
 * quarter full halves it. The binding builds the bytes it returns as a JavaScript array on
 * the event loop (≈0.05–0.15 µs per byte), so the largest read bounds how long one read holds
 * the loop: 64 KiB is a few milliseconds, and a read call costs tens of microseconds.
 */
const MIN_READ = 16 * 1024;
const MAX_READ = 64 * 1024;

/**
 * After QUIC acknowledged our FIN, how long a delivery still waits for the peer's FIN: the
 * acknowledgement says the peer's stack has the bytes, not that its application has read them,
 * and a connection closed then discards what it has not read yet (a peer reading slower than
 * the acknowledgements come, e.g. with the binding in an I/O thread, lost the end of a large
 * message sent just before a close).
 */
const PEER_FIN_GRACE_MS = 200;

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

export interface FrameStreamOptions {
  /** Batching of the writer (the largest batch is also the largest write call). */
  writer?: FrameWriterOptions;
  /**
   * Payloads sent with {@link FrameStream.send} at least this large are compressed when that
   * pays (0: never), with the codec the HELLO agreed.
   */
  compressionThreshold?: number;
}

/**
 * One QUIC bidirectional stream carrying protocol frames both ways: a read loop feeding a
 * {@link FrameDecoder}, and a {@link FrameWriter} whose batches become single `writeAll`
 * calls. Once the owner tells it what the HELLO agreed ({@link agree}), it also does what
 * depends on that per stream: the codec of the payloads it sends, and the pattern tables.
 */
export class FrameStream {
  readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private readonly encoder: StreamEncoder;
  private patterns: PatternTableReader | null = null;
  private ended = false;
  private resolveEnded!: () => void;
  /** Resolves when the receiving side ends (the peer's FIN, or a failure). */
  private readonly endedPromise = new Promise<void>(resolve => (this.resolveEnded = resolve));
  private decodingStopped = false;
  /** When the last bytes arrived (ms since epoch). */
  lastReceivedAt = Date.now();

  constructor(
    private readonly stream: IoBiStream,
    maxMessageSize: number,
    private readonly handlers: FrameStreamHandlers,
    options: FrameStreamOptions = {},
  ) {
    const send = stream.send;
    // Batches are at most `maxBatchBytes` (64 KiB): with the binding on this thread each write
    // converts and copies that much on the event loop, then yields until the binding has taken it.
    const counted = handlers.bytesSent;
    const sink: FrameSink = counted
      ? (parts, total) => {
          counted(total);
          return send.write(parts, total);
        }
      : (parts, total) => send.write(parts, total);
    this.writer = new FrameWriter(
      sink,
      err => this.end(IrohError.from('stream write failed', err)),
      options.writer ?? DEFAULT_FRAME_WRITER_OPTIONS,
    );
    this.encoder = new StreamEncoder(options.compressionThreshold ?? 0);
    this.decoder = new FrameDecoder(
      maxMessageSize,
      {
        onFrame: frame => {
          if (this.decodingStopped) return;
          if (frame.flags & FrameFlag.PATTERN_REF && !this.resolvePattern(frame)) return;
          handlers.onFrame(frame);
        },
        onOversized: frame => {
          if (this.decodingStopped) return;
          if (frame.flags & FrameFlag.PATTERN_REF && frame.length <= MAX_DEFINING_PAYLOAD) {
            // It may have defined a pattern that later frames name: the tables no longer agree.
            this.decodingStopped = true;
            handlers.onProtocolError(
              new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'pattern table: a frame that may define a pattern was refused'),
            );
            return;
          }
          handlers.onOversized(frame);
        },
        onError: error => handlers.onProtocolError(error),
      },
      handlers.receiveBudget,
    );
  }

  /**
   * Sets the features both sides announced in their HELLO: from then on, payloads sent with
   * {@link send} use what they allow, and pattern references from the peer are read.
   */
  agree(sharedFeatures: number): void {
    this.encoder.agree(sharedFeatures);
    this.patterns = sharedFeatures & Feature.PATTERN_TABLE ? (this.patterns ?? new PatternTableReader()) : null;
  }

  /** The features both sides announced (0 until {@link agree}). */
  get sharedFeatures(): number {
    return this.encoder.sharedFeatures;
  }

  /**
   * Queues a message: its pattern by reference when both sides keep a pattern table, its
   * payload compressed when that pays (large payloads off the event loop; frames queued later
   * wait behind them). Returns false when the stream no longer writes.
   */
  send(type: FrameType, id: number, payload: EncodedPayload): boolean {
    if (this.writer.isClosed) return false;
    const wire = this.encoder.encode(type, payload);
    if (wire instanceof Promise) return this.writer.writeDeferred(type, id, wire, payload.bytes.length);
    return this.writer.write(type, id, wire.body.length > 0 ? wire.body : null, wire.flags, wire.prefix);
  }

  /** Replaces a frame's pattern reference by its pattern; false (stream failed) when it does not resolve. */
  private resolvePattern(frame: Frame): boolean {
    try {
      if (frame.type !== FrameType.REQUEST && frame.type !== FrameType.EVENT) {
        throw new ProtocolError(ErrorCode.UNKNOWN_FRAME, `pattern reference on a ${FrameType[frame.type]} frame`);
      }
      if (this.patterns === null) {
        throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'pattern reference without an agreed pattern table');
      }
      const { pattern, offset } = this.patterns.read(frame.payload);
      frame.pattern = pattern;
      frame.payload = frame.payload.subarray(offset);
      frame.flags &= ~FrameFlag.PATTERN_REF;
      return true;
    } catch (err) {
      this.decodingStopped = true;
      this.handlers.onProtocolError(err as ProtocolError);
      return false;
    }
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
        this.decoder.push(bytes);
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
    this.resolveEnded();
    this.handlers.onClosed(error);
  }

  /**
   * Finishes our side and waits (up to `timeoutMs`) until the peer has received everything
   * written, so that a connection closed right after does not discard the last frames.
   *
   * The peer's own FIN arriving after ours left proves it: both sides of this protocol finish
   * their side only once they have read the other's FIN (or when they are going away anyway),
   * so it usually comes one round trip after ours. QUIC's acknowledgement of our FIN
   * (`stopped()`, which the peer may hold back for its maximum ACK delay, 25 ms) stands for it
   * when the peer does not answer within {@link PEER_FIN_GRACE_MS} after it (a server still
   * working on requests finishes later), or at once when only the peer's stack must have the
   * bytes (`read: false`: a protocol error's GOAWAY, before a close that says the same). A FIN
   * that arrived before ours was sent proves nothing and is not counted.
   */
  async finishAndWaitDelivered(timeoutMs: number, read = true): Promise<void> {
    const peerAnswers = !this.ended;
    const grace = read ? PEER_FIN_GRACE_MS : 0;
    const acknowledged = (): Promise<unknown> => this.stream.send.stopped();
    const delivered = this.finish().then(() =>
      peerAnswers ? Promise.race([acknowledged().then(() => settledWithin(this.endedPromise, grace)), this.endedPromise]) : acknowledged(),
    );
    // A peer that does not read may never let the queued frames out: bounded as a whole.
    await settledWithin(delivered, timeoutMs);
  }

  /** Stops handing frames on: everything received from now on is discarded. */
  stopDecoding(): void {
    this.decodingStopped = true;
  }
}
