import { ProtocolError } from './errors';
import { ErrorCode, Frame, FrameFlag, FrameType } from './frames';
import { readVarint, varintSize, writeVarint } from './varint';
import {
  EncodedPayload,
  RequestBody,
  decodeRequestBody,
  decodeValue,
  decompress,
  encodeRequestBody,
  encodeValue,
  maybeCompress,
} from './payload';

/**
 * Messages ↔ frame payloads: the one place that decides how requests, events and replies
 * are laid out in frames. Server and client both use it, each for its own direction.
 */

/** A reply message in the shape Nest's transports use internally. */
export interface ReplyMessage {
  err?: unknown;
  response?: unknown;
  isDisposed?: boolean;
}

/** A request or event in the compact layout (pattern, metadata, data). */
export function encodeRequestMessage(pattern: string, data: unknown, metadata: unknown, compressionThreshold: number): EncodedPayload {
  return maybeCompress(encodeRequestBody(pattern, data, metadata), compressionThreshold);
}

/** Any value as a whole packet, for custom serializers (ENVELOPE flag). */
export function encodeEnvelope(value: unknown, compressionThreshold: number): EncodedPayload {
  const encoded = encodeValue(value);
  return maybeCompress({ bytes: encoded.bytes, flags: encoded.flags | FrameFlag.ENVELOPE }, compressionThreshold);
}

/** The frame type that carries a reply message. */
export function replyFrameType(message: ReplyMessage): FrameType {
  if ('err' in message) return FrameType.ERROR;
  if (message.isDisposed) return message.response === undefined ? FrameType.END : FrameType.RESPONSE;
  return FrameType.DATA;
}

/** The payload of a reply in the compact layout: the error or the response value. */
export function encodeReplyMessage(message: ReplyMessage, compressionThreshold: number): EncodedPayload {
  const value = 'err' in message ? message.err : message.response;
  return maybeCompress(encodeValue(value), compressionThreshold);
}

/** The value a frame's payload carries (decompressed, JSON or bytes). */
export function decodeFrameValue(frame: Frame, maxMessageSize: number): unknown {
  // Reply metadata is taken off the frame before its value is read (`takeReplyMetadata`).
  if (frame.flags & FrameFlag.REPLY_METADATA) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'unexpected reply metadata flag');
  return decodeValue(decompress(frame.payload, frame.flags, maxMessageSize), frame.flags);
}

/**
 * A decoded REQUEST or EVENT. `timeoutMs` is the time the caller had left when it sent the
 * request ({@link FrameFlag.DEADLINE}); undefined when it set no deadline.
 */
export type DecodedRequest = ({ envelope: false; body: RequestBody } | { envelope: true; value: unknown }) & {
  timeoutMs?: number;
};

/**
 * Prefixes a REQUEST payload with the caller's remaining time (at least 1 ms), relative so
 * that the two clocks need not agree, as gRPC's `grpc-timeout`.
 */
export function withDeadline(payload: EncodedPayload, timeoutMs: number): EncodedPayload {
  const ms = Math.max(1, Math.ceil(timeoutMs));
  const prefix = Buffer.allocUnsafe(varintSize(ms));
  writeVarint(prefix, 0, ms);
  return {
    bytes: Buffer.concat([prefix, payload.bytes], prefix.length + payload.bytes.length),
    flags: payload.flags | FrameFlag.DEADLINE,
    uncompressedLength: payload.uncompressedLength,
    // Counted in the body after the varint.
    pattern: payload.pattern,
    patternEnd: payload.patternEnd,
  };
}

/**
 * Reads the DEADLINE prefix of a request payload (the caller's remaining milliseconds, a
 * positive varint, outside any compression): the time, and the payload after it. Throws a
 * ProtocolError when it is not there.
 */
export function readDeadline(payload: Buffer): { timeoutMs: number; payload: Buffer } {
  const cursor = { value: 0, offset: 0 };
  let ok: boolean;
  try {
    ok = readVarint(payload, payload.length, cursor) && cursor.value > 0;
  } catch {
    ok = false;
  }
  if (!ok) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'request: bad deadline');
  return { timeoutMs: cursor.value, payload: payload.subarray(cursor.offset) };
}

/** Decodes a REQUEST or EVENT frame. Throws a ProtocolError for a malformed payload. */
export function decodeRequestMessage(frame: Frame, maxMessageSize: number): DecodedRequest {
  if (frame.flags & FrameFlag.REPLY_METADATA) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'request: reply metadata flag');
  let timeoutMs: number | undefined;
  let payload = frame.payload;
  if (frame.flags & FrameFlag.DEADLINE) ({ timeoutMs, payload } = readDeadline(payload));
  if (frame.flags & FrameFlag.PATTERN_REF) {
    // References are resolved by the stream that received the frame, in stream order.
    throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'request: pattern reference outside a stream');
  }
  const decoded: DecodedRequest =
    frame.flags & FrameFlag.ENVELOPE
      ? { envelope: true, value: decodeValue(decompress(payload, frame.flags, maxMessageSize), frame.flags) }
      : {
          envelope: false,
          body: decodeRequestBody(decompress(payload, frame.flags, maxMessageSize), frame.flags, frame.pattern),
        };
  if (timeoutMs !== undefined) decoded.timeoutMs = timeoutMs;
  return decoded;
}

/** Decodes a reply frame (RESPONSE, DATA, END, ERROR) in the compact layout. */
export function decodeReplyMessage(frame: Frame, maxMessageSize: number): ReplyMessage {
  switch (frame.type) {
    case FrameType.RESPONSE:
      return { response: decodeFrameValue(frame, maxMessageSize), isDisposed: true };
    case FrameType.DATA:
      return { response: decodeFrameValue(frame, maxMessageSize) };
    case FrameType.ERROR:
      return { err: decodeFrameValue(frame, maxMessageSize), isDisposed: true };
    default:
      return { isDisposed: true };
  }
}

/** True for the frame types that end a request. */
export function isFinalReply(type: FrameType): boolean {
  return type === FrameType.RESPONSE || type === FrameType.END || type === FrameType.ERROR;
}

/** One value of a stream (DATA payload) in the compact layout. */
export function encodeStreamValue(value: unknown, compressionThreshold: number): EncodedPayload {
  return maybeCompress(encodeValue(value), compressionThreshold);
}
