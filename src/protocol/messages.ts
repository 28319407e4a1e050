import { ProtocolError } from './errors';
import { ErrorCode, Frame, FrameFlag, FrameType } from './frames';
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
export function encodeRequestMessage(
  pattern: string,
  data: unknown,
  metadata: unknown,
  compressionThreshold: number,
): EncodedPayload {
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
  return decodeValue(decompress(frame.payload, frame.flags, maxMessageSize), frame.flags);
}

export type DecodedRequest = { envelope: false; body: RequestBody } | { envelope: true; value: unknown };

/** Decodes a REQUEST or EVENT frame. Throws a ProtocolError for a malformed payload. */
export function decodeRequestMessage(frame: Frame, maxMessageSize: number): DecodedRequest {
  if (frame.flags & FrameFlag.ENVELOPE) return { envelope: true, value: decodeFrameValue(frame, maxMessageSize) };
  const bytes = decompress(frame.payload, frame.flags, maxMessageSize);
  return { envelope: false, body: decodeRequestBody(bytes, frame.flags) };
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
