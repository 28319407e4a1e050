import iroh = require('./binding');
import { Frame, FrameDecoder, FrameSink, FrameWriter, OversizedFrame, ProtocolError } from '../protocol';
import { fromBindingBytes, toBindingBytes } from './bytes';
import { IrohError } from './errors';

/** Bytes asked for per read call: large reads mean fewer binding calls for big messages. */
const READ_CHUNK = 256 * 1024;

export interface FrameStreamHandlers {
  onFrame(frame: Frame): void;
  onOversized(frame: OversizedFrame): void;
  /** The peer sent bytes that are not protocol; reading has stopped. */
  onProtocolError(error: ProtocolError): void;
  /** The stream ended: `error` is undefined when the peer finished it cleanly. */
  onClosed(error?: Error): void;
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
  /** When the last bytes arrived (ms since epoch). */
  lastReceivedAt = Date.now();

  constructor(
    private readonly stream: iroh.BiStream,
    maxMessageSize: number,
    private readonly handlers: FrameStreamHandlers,
  ) {
    const send = stream.send;
    const sink: FrameSink = (parts, total) => send.writeAll(toBindingBytes(parts, total));
    this.writer = new FrameWriter(sink, err => this.end(IrohError.from('stream write failed', err)));
    this.decoder = new FrameDecoder(maxMessageSize, {
      onFrame: frame => handlers.onFrame(frame),
      onOversized: frame => handlers.onOversized(frame),
      onError: error => handlers.onProtocolError(error),
    });
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
    try {
      for (;;) {
        const bytes = await recv.read(READ_CHUNK);
        if (bytes.length === 0) break;
        this.lastReceivedAt = Date.now();
        if (this.decoder.failed) continue;
        this.decoder.push(fromBindingBytes(bytes));
      }
      this.end();
    } catch (err) {
      this.end(IrohError.from('stream read failed', err));
    }
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.writer.close();
    this.handlers.onClosed(error);
  }
}
