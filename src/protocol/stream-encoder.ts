import { COMPRESSION_FLAGS, compressBody } from './compression';
import { FrameFlag, FrameType } from './frames';
import { Feature } from './hello';
import { isPromise } from './maybe-async';
import { EncodedPayload } from './payload';
import { PatternTableWriter } from './pattern-table';
import { VarintCursor, readVarint } from './varint';

/** One message as it goes on the wire: a prefix kept outside compression, then the body. */
export interface WirePayload {
  /** Pattern reference and deadline varint, in that order, or a reply's metadata; null when there is none. */
  prefix: Buffer | null;
  body: Buffer;
  flags: number;
}

/**
 * The last steps of encoding a message for one stream, which depend on what the peer
 * announced in its HELLO: the pattern reference (when both keep a pattern table) and the
 * compression codec. Messages must be encoded in the order they are written, since
 * pattern definitions count in stream order; large payloads come back as a promise
 * (compressed off the event loop), which the writer keeps in its place.
 */
export class StreamEncoder {
  private features = 0;
  private patterns: PatternTableWriter | null = null;
  private readonly cursor: VarintCursor = { value: 0, offset: 0 };

  /** `compressionThreshold`: payloads at least this large are compressed when that pays (0: never). */
  constructor(private readonly compressionThreshold: number) {}

  /** The features both sides announced (0 until {@link agree} is called: protocol 1.0). */
  get sharedFeatures(): number {
    return this.features;
  }

  /** Sets the features both sides announced. */
  agree(sharedFeatures: number): void {
    this.features = sharedFeatures;
    this.patterns = sharedFeatures & Feature.PATTERN_TABLE ? (this.patterns ?? new PatternTableWriter()) : null;
  }

  encode(type: FrameType, payload: EncodedPayload): WirePayload | Promise<WirePayload> {
    let flags = payload.flags;
    let body = payload.bytes;
    let deadline: Buffer | null = null;
    if (flags & FrameFlag.DEADLINE) {
      const cursor = this.cursor;
      cursor.offset = 0;
      if (readVarint(body, body.length, cursor)) {
        deadline = body.subarray(0, cursor.offset);
        body = body.subarray(cursor.offset);
      }
    }
    let metadata: Buffer | null = null;
    if (flags & FrameFlag.REPLY_METADATA) {
      // Reply metadata (on replies only) stays outside the compressed bytes, as the deadline does.
      const cursor = this.cursor;
      cursor.offset = 0;
      if (readVarint(body, body.length, cursor)) {
        const end = cursor.offset + cursor.value;
        metadata = body.subarray(0, end);
        body = body.subarray(end);
      }
    }
    let reference: Buffer | null = null;
    if (
      this.patterns !== null &&
      payload.patternEnd !== undefined &&
      payload.pattern !== undefined &&
      (flags & (COMPRESSION_FLAGS | FrameFlag.ENVELOPE)) === 0 &&
      (type === FrameType.REQUEST || type === FrameType.EVENT)
    ) {
      reference = this.patterns.reference(payload.pattern, body.length - payload.patternEnd);
      if (reference !== null) {
        body = body.subarray(payload.patternEnd);
        flags |= FrameFlag.PATTERN_REF;
      }
    }
    const prefix = metadata ?? (reference === null ? deadline : deadline === null ? reference : Buffer.concat([reference, deadline]));
    if (flags & COMPRESSION_FLAGS) return { prefix, body, flags };
    const compressed = compressBody(body, this.compressionThreshold, this.features);
    if (isPromise(compressed)) {
      return compressed.then(c => ({ prefix, body: c.bytes, flags: flags | c.flag }));
    }
    return { prefix, body: compressed.bytes, flags: flags | compressed.flag };
  }
}
