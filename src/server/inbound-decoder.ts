import {
  DecodedRequest,
  ErrorCode,
  Frame,
  FrameFlag,
  ProtocolError,
  ReceiveBudget,
  compressionOf,
  decodeRequestMessage,
  inflatePayload,
  readDeadline,
  withoutCompression,
} from '../protocol';
import { TokenBuckets } from './token-buckets';

/** The stream a message arrived on, as decoding sees it. */
export interface DecodingSource {
  readonly remoteEndpointId: string;
  /** The connection's share of the receive memory: inflated payloads reserve from it. */
  readonly budget: ReceiveBudget;
  /** True once the stream is closed: a payload still being inflated for it is abandoned. */
  readonly isClosed: boolean;
}

/** A failure to decode a message: answered (REQUEST) or logged (EVENT) by the caller. */
export interface DecodeFailure {
  code: ErrorCode;
  message: string;
  /** A message the peer should not have sent (malformed, or inflating past the size limit). */
  bad: boolean;
}

export interface InboundDecoderOptions {
  maxMessageSize: number;
  /** Bytes per second one peer may make the server inflate. */
  maxInflateRatePerPeer: number;
}

/**
 * Decodes what peers send — REQUEST and EVENT bodies, and the DATA frames of request
 * streams — inflating compressed payloads within the limits: the size limit, the connection's
 * share of the receive memory, and the peer's inflate rate (a token bucket per endpoint id,
 * with bursts of a second's worth or two maximum-size messages, whichever is more; past it
 * the peer's inflation waits, and so do the frames behind it). Small payloads are decoded at
 * once; large compressed ones are inflated on zlib's thread pool and decoded when done.
 */
export class InboundDecoder {
  private readonly work: TokenBuckets;

  constructor(private readonly options: InboundDecoderOptions) {
    const { maxInflateRatePerPeer, maxMessageSize } = options;
    this.work = new TokenBuckets(maxInflateRatePerPeer, Math.max(maxInflateRatePerPeer, 2 * maxMessageSize));
  }

  /**
   * Decodes a REQUEST or EVENT frame; `done` gets the message, or why it could not be
   * decoded. Returns a promise while a large payload is inflated, else calls `done` at once.
   */
  decodeMessage(source: DecodingSource, frame: Frame, done: (result: DecodedRequest | DecodeFailure) => void): Promise<void> | void {
    let timeoutMs: number | undefined;
    let compressed = frame;
    if (compressionOf(frame.flags) && frame.flags & FrameFlag.DEADLINE) {
      // The deadline stays outside the compressed bytes: read it off before inflating.
      let payload: Buffer;
      try {
        ({ timeoutMs, payload } = readDeadline(frame.payload));
      } catch (err) {
        return done(failure(err));
      }
      compressed = { ...frame, flags: frame.flags & ~FrameFlag.DEADLINE, payload };
    }
    const decode = (inflated: Frame, reserved: number) => {
      try {
        const decoded = decodeRequestMessage(inflated, this.options.maxMessageSize);
        if (timeoutMs !== undefined) decoded.timeoutMs = timeoutMs;
        done(decoded);
      } catch (err) {
        done(failure(err));
      } finally {
        source.budget.release(reserved);
      }
    };
    return this.inflate(source, compressed, decode, err => done(failure(err)));
  }

  /**
   * A DATA frame of a request stream with its payload inflated (the frame as is when it is
   * not compressed); `done` gets it, or why it could not be inflated. Returns a promise while
   * a large payload is inflated.
   */
  inflateUpload(source: DecodingSource, frame: Frame, done: (result: Frame | DecodeFailure) => void): Promise<void> | void {
    return this.inflate(
      source,
      frame,
      (inflated, reserved) => {
        // The request stream's consumer decodes it at once: the memory is handed on with it.
        source.budget.release(reserved);
        done(inflated);
      },
      err => done(failure(err)),
    );
  }

  private inflate(
    source: DecodingSource,
    frame: Frame,
    use: (inflated: Frame, reserved: number) => void,
    fail: (err: unknown) => void,
  ): Promise<void> | void {
    if (!compressionOf(frame.flags)) return use(frame, 0);
    const peer = source.remoteEndpointId;
    let output: Buffer | Promise<Buffer>;
    try {
      output = inflatePayload(frame.payload, frame.flags, {
        maxSize: this.options.maxMessageSize,
        budget: source.budget,
        work: { charge: bytes => this.work.debit(peer, bytes) },
        cancelled: () => source.isClosed,
      });
    } catch (err) {
      return fail(err);
    }
    const inflated = (bytes: Buffer): Frame => ({ ...frame, flags: withoutCompression(frame.flags), payload: bytes });
    if (Buffer.isBuffer(output)) return use(inflated(output), output.length);
    return output.then(
      bytes => {
        if (source.isClosed) source.budget.release(bytes.length);
        else use(inflated(bytes), bytes.length);
      },
      err => {
        if (!source.isClosed) fail(err);
      },
    );
  }
}

export function isDecodeFailure(result: unknown): result is DecodeFailure {
  return typeof result === 'object' && result !== null && 'bad' in result && 'code' in result && !('envelope' in result);
}

function failure(err: unknown): DecodeFailure {
  if (err instanceof ProtocolError) {
    return { code: err.code, message: err.message, bad: err.code !== ErrorCode.LIMIT_EXCEEDED };
  }
  return { code: ErrorCode.MALFORMED_PAYLOAD, message: err instanceof Error ? err.message : String(err), bad: true };
}
