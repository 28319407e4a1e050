import { ProtocolError } from './errors';
import { ErrorCode, Frame, FrameType, KNOWN_FLAGS, OversizedFrame, PROTOCOL_VERSION, isKnownFrameType } from './frames';
import { MAX_FRAME_HEADER_SIZE } from './limits';
import { ReceiveBudget, UNLIMITED_BUDGET } from './receive-budget';
import { VarintCursor, readVarint, varintSize, writeVarint } from './varint';

const EMPTY = Buffer.alloc(0);

/** Encodes a frame header for a payload of `length` bytes. */
export function encodeFrameHeader(type: FrameType, flags: number, id: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(2 + varintSize(id) + varintSize(length));
  header[0] = (PROTOCOL_VERSION << 4) | type;
  header[1] = flags;
  writeVarint(header, writeVarint(header, 2, id), length);
  return header;
}

/** Encodes a whole frame into one buffer. */
export function encodeFrame(type: FrameType, id: number, payload: Buffer = EMPTY, flags = 0): Buffer {
  const header = encodeFrameHeader(type, flags, id, payload.length);
  return payload.length === 0 ? header : Buffer.concat([header, payload], header.length + payload.length);
}

export interface FrameDecoderHandlers {
  /** A complete frame. */
  onFrame(frame: Frame): void;
  /**
   * A frame whose declared length exceeds the limit, or whose payload the receive budget
   * cannot hold (`outOfBudget`); its payload is skipped, never stored.
   */
  onOversized(frame: OversizedFrame): void;
  /** The byte stream is not valid protocol; the decoder ignores all further input. */
  onError(error: ProtocolError): void;
}

const enum State {
  HEADER,
  PAYLOAD,
  DISCARD,
  FAILED,
}

/**
 * Turns a byte stream into frames: a small state machine in the manner of `ws`'s Receiver.
 * The declared length is checked against `maxMessageSize` before anything is allocated for
 * the payload; payloads that fit in one received chunk are passed on without copying. A
 * payload that spans chunks is buffered only once its declared length has been reserved
 * from the receive budget, and the reservation is released when the frame is handed on (or
 * dropped); a frame the budget cannot hold is skipped like an oversized one.
 */
export class FrameDecoder {
  private state = State.HEADER;
  /** Bytes of a header split across chunks (at most {@link MAX_FRAME_HEADER_SIZE}). */
  private headerRemainder: Buffer | null = null;
  private current: Frame | OversizedFrame | null = null;
  private payloadParts: Buffer[] = [];
  private payloadNeeded = 0;
  /** Bytes reserved from the budget for the payload being buffered. */
  private reserved = 0;
  private discardLeft = 0;
  private readonly cursor: VarintCursor = { value: 0, offset: 0 };
  /** When the frame now partly received began to arrive (ms since epoch); null when none is. */
  private partialSince: number | null = null;

  constructor(
    private readonly maxMessageSize: number,
    private readonly handlers: FrameDecoderHandlers,
    private readonly budget: ReceiveBudget = UNLIMITED_BUDGET,
  ) {}

  get failed(): boolean {
    return this.state === State.FAILED;
  }

  /** True when no frame is partly received. */
  get idle(): boolean {
    return this.state === State.HEADER && this.headerRemainder === null;
  }

  /**
   * When the frame now partly received began to arrive (ms since epoch), or null: a peer that
   * trickles a frame byte by byte is judged by how long the frame takes, not by its last byte.
   */
  get partialFrameSince(): number | null {
    return this.partialSince;
  }

  push(chunk: Buffer): void {
    this.decode(chunk);
    if (this.idle || this.state === State.FAILED) this.partialSince = null;
    else if (this.partialSince === null) this.partialSince = Date.now();
  }

  private decode(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.state) {
        case State.HEADER:
          offset = this.readHeader(chunk, offset);
          break;
        case State.PAYLOAD: {
          const take = Math.min(this.payloadNeeded, length - offset);
          this.payloadParts.push(chunk.subarray(offset, offset + take));
          this.payloadNeeded -= take;
          offset += take;
          if (this.payloadNeeded === 0) {
            const frame = this.current as Frame;
            frame.payload = this.payloadParts.length === 1 ? this.payloadParts[0] : Buffer.concat(this.payloadParts);
            this.payloadParts = [];
            this.current = null;
            this.state = State.HEADER;
            this.partialSince = null;
            this.releaseReserved();
            this.handlers.onFrame(frame);
          } else if (this.budget.progress) {
            this.budget.progress(this.reserved - this.payloadNeeded, this.reserved);
          }
          break;
        }
        case State.DISCARD: {
          const take = Math.min(this.discardLeft, length - offset);
          this.discardLeft -= take;
          offset += take;
          if (this.discardLeft === 0) {
            this.state = State.HEADER;
            this.partialSince = null;
          }
          break;
        }
        case State.FAILED:
          return;
      }
    }
  }

  /** Parses one header starting at `offset`; returns the offset after what was consumed. */
  private readHeader(chunk: Buffer, offset: number): number {
    let src = chunk;
    let start = offset;
    let carried = 0;
    if (this.headerRemainder !== null) {
      carried = this.headerRemainder.length;
      const extra = chunk.subarray(offset, offset + MAX_FRAME_HEADER_SIZE);
      src = Buffer.concat([this.headerRemainder, extra]);
      start = 0;
    }
    const end = src.length;
    if (end - start < 2) return this.keepHeaderBytes(src, start, end, chunk.length);

    const first = src[start];
    const version = first >> 4;
    const type = first & 0x0f;
    const flags = src[start + 1];
    if (version !== 1) {
      return this.fail(ErrorCode.UNSUPPORTED_VERSION, `unsupported protocol version ${version}`);
    }
    if (!isKnownFrameType(type)) return this.fail(ErrorCode.UNKNOWN_FRAME, `unknown frame type ${type}`);
    if ((flags & ~KNOWN_FLAGS) !== 0) {
      return this.fail(ErrorCode.UNKNOWN_FRAME, `unknown frame flags 0x${flags.toString(16)}`);
    }

    const cursor = this.cursor;
    cursor.offset = start + 2;
    let id: number;
    let payloadLength: number;
    try {
      if (!readVarint(src, end, cursor)) return this.keepHeaderBytes(src, start, end, chunk.length);
      id = cursor.value;
      if (!readVarint(src, end, cursor)) return this.keepHeaderBytes(src, start, end, chunk.length);
      payloadLength = cursor.value;
    } catch (err) {
      return this.fail(ErrorCode.PROTOCOL_ERROR, (err as Error).message);
    }
    const headerLength = cursor.offset - start;
    // Offset in `chunk` just past the header.
    const next = carried > 0 ? offset + headerLength - carried : cursor.offset;
    this.headerRemainder = null;

    if (payloadLength > this.maxMessageSize) {
      const oversized: OversizedFrame = { type, flags, id, length: payloadLength };
      if (payloadLength > 0) {
        this.discardLeft = payloadLength;
        this.state = State.DISCARD;
      }
      this.handlers.onOversized(oversized);
      return next;
    }
    const available = chunk.length - next;
    if (payloadLength <= available) {
      const payload = payloadLength === 0 ? EMPTY : chunk.subarray(next, next + payloadLength);
      this.handlers.onFrame({ type, flags, id, payload });
      return next + payloadLength;
    }
    if (!this.budget.reserve(payloadLength)) {
      this.discardLeft = payloadLength;
      this.state = State.DISCARD;
      this.handlers.onOversized({ type, flags, id, length: payloadLength, outOfBudget: true });
      return next;
    }
    this.reserved = payloadLength;
    this.current = { type, flags, id, payload: EMPTY };
    this.payloadNeeded = payloadLength;
    this.state = State.PAYLOAD;
    return next;
  }

  /** Gives back what the payload being buffered had reserved. */
  private releaseReserved(): void {
    if (this.reserved === 0) return;
    const bytes = this.reserved;
    this.reserved = 0;
    this.budget.release(bytes);
  }

  /** Keeps the bytes of an incomplete header for the next chunk; consumes the chunk. */
  private keepHeaderBytes(src: Buffer, start: number, end: number, chunkLength: number): number {
    if (end - start >= MAX_FRAME_HEADER_SIZE) {
      return this.fail(ErrorCode.PROTOCOL_ERROR, 'frame header too long');
    }
    this.headerRemainder = Buffer.from(src.subarray(start, end));
    return chunkLength;
  }

  private fail(code: ErrorCode, message: string): number {
    this.state = State.FAILED;
    this.headerRemainder = null;
    this.payloadParts = [];
    this.current = null;
    this.releaseReserved();
    this.handlers.onError(new ProtocolError(code, message));
    return Number.MAX_SAFE_INTEGER;
  }
}
